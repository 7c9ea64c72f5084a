"""A connection pool whose callers wait briefly for a free connection when all are busy."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from redis.asyncio import ConnectionPool
from redis.exceptions import MaxConnectionsError


class PoolTimeout(MaxConnectionsError):
    """No pooled connection became free in time: the pool is too small, Redis is not down."""


class WaitingConnectionPool(ConnectionPool):
    """A pool whose callers wait up to `timeout` s for a free connection when all are busy.

    redis-py's `BlockingConnectionPool` does the same with an `asyncio.Condition` and a
    timeout around every checkout, which costs about 12 % of a GET; here a caller only
    pays for waiting when it has to wait. Cooperative (`super()`), so that a Sentinel pool
    can wait the same way (`gomeet.redis_sentinel`).
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
