"""The one Redis client of a process, shared by the cache and the rate limiter."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from gomeet.config import Settings
from gomeet.redis_pool import WaitingConnectionPool
from gomeet.redis_sentinel import sentinel_master


def redis_url_from_settings(settings: Settings) -> str | None:
    """`REDIS_URL` wins; otherwise one is built from `REDIS_HOST/PORT/PASSWORD/DB`."""
    if settings.redis_url:
        return settings.redis_url
    if settings.redis_host:
        auth = f":{quote(settings.redis_password, safe='')}@" if settings.redis_password else ""
        return f"redis://{auth}{settings.redis_host}:{settings.redis_port}/{settings.redis_db}"
    return None


def redacted(url: str) -> str:
    """The URL without its passwords (user info, `sentinel_password=`), for logs."""
    parts = urlsplit(url)
    if parts.password is not None:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    if "password" in parts.query:
        query = [(k, "***" if "password" in k else v) for k, v in parse_qsl(parts.query)]
        parts = parts._replace(query=urlencode(query, safe="*"))
    return parts.geturl()


def create_redis(settings: Settings, url: str | None = None) -> Redis:
    """Short timeouts and no retries: a dead Redis must cost a request milliseconds, not seconds."""
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_socket_timeout,
        "socket_connect_timeout": settings.redis_connect_timeout,
        "max_connections": settings.redis_max_connections,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": False,
    }
    if settings.redis_cluster_url:
        options.pop("max_connections")
        return cast(Redis, RedisCluster.from_url(settings.redis_cluster_url, **options))
    sentinel = settings.redis_sentinel
    if sentinel is not None:
        return sentinel_master(sentinel, options, pool_timeout(settings))
    url = url or redis_url_from_settings(settings)
    if url is None:
        raise ValueError("no Redis configured")
    # Waiting: when every connection is busy (a burst; the cache and the rate limiter share
    # the pool) a command waits briefly for one instead of failing with MaxConnectionsError,
    # which turned bursts into cache errors, database loads and rate-limiter failures.
    pool = WaitingConnectionPool.from_url(url, timeout=pool_timeout(settings), **options)
    return Redis.from_pool(pool)


def pool_timeout(settings: Settings) -> float:
    """How long a command waits for a free pooled connection before it fails."""
    return settings.redis_socket_timeout + settings.redis_connect_timeout
