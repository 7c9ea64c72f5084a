"""The one Redis client of a process, shared by the cache and the rate limiter."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast
from urllib.parse import quote, urlsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import MaxConnectionsError
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
    # Waiting: when every connection is busy (a burst; the cache and the rate limiter share
    # the pool) a command waits briefly for one instead of failing with MaxConnectionsError,
    # which turned bursts into cache errors, database loads and rate-limiter failures.
    pool = WaitingConnectionPool.from_url(url, timeout=pool_timeout(settings), **options)
    return Redis.from_pool(pool)


def pool_timeout(settings: Settings) -> float:
    """How long a command waits for a free pooled connection before it fails."""
    return settings.redis_socket_timeout + settings.redis_connect_timeout


class PoolTimeout(MaxConnectionsError):
    """No pooled connection became free in time: the pool is too small, Redis is not down."""


class WaitingConnectionPool(ConnectionPool):
    """A pool whose callers wait up to `timeout` s for a free connection when all are busy.

    redis-py's `BlockingConnectionPool` does the same with an `asyncio.Condition` and a
    timeout around every checkout, which costs about 12 % of a GET; here a caller only
    pays for waiting when it has to wait.
    """

    def __init__(self, *, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if not self.can_get_connection():
            await self._wait_for_release()
        return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]

    async def _wait_for_release(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not self.can_get_connection():  # another caller may take a freed one first
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append(future)
            try:
                async with asyncio.timeout_at(deadline):
                    await future
            except TimeoutError:
                raise PoolTimeout("No connection available.") from None
            finally:
                if not future.done():
                    self._waiters.remove(future)

    async def release(self, connection: Any) -> None:
        await super().release(connection)
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
