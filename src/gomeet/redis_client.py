"""The one Redis client of a process, shared by the cache and the rate limiter."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import quote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from gomeet.config import Settings


def redis_url_from_settings(settings: Settings) -> str | None:
    """`REDIS_URL` wins; otherwise one is built from `REDIS_HOST/PORT/PASSWORD/DB`."""
    if settings.redis_url:
        return settings.redis_url
    if settings.redis_host:
        auth = f":{quote(settings.redis_password, safe='')}@" if settings.redis_password else ""
        return f"redis://{auth}{settings.redis_host}:{settings.redis_port}/{settings.redis_db}"
    return None


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


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
    if settings.redis_sentinel_url:
        parts = urlsplit(settings.redis_sentinel_url)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            [(parts.hostname or "localhost", parts.port or 26379)],
            socket_timeout=settings.redis_socket_timeout,
            password=parts.password,
        )
        return cast(Redis, sentinel.master_for(settings.redis_sentinel_master, **options))
    url = url or redis_url_from_settings(settings)
    if url is None:
        raise ValueError("no Redis configured")
    return Redis.from_url(url, **options)
