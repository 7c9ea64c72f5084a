"""A Redis master found through Sentinel, followed across failovers.

redis-py asks the sentinels for the master's address only when it opens a connection, and
a pooled connection to the old master keeps working after a failover: Sentinel demotes the
old master (and closes its clients) only some 10 s after it promoted the replica
(measured: promotion, then `+switch-master` 0.9 s later, then the old master turned
replica 10 s after that). Writes sent there meanwhile are lost when it resynchronises. So:

- `FollowingSentinelPool.follow()` listens for `+switch-master` on one sentinel after
  another, and asks them for the master at least every `poll` seconds; on a change the
  pool drops its idle connections, and busy ones when they are released (redis-py's async
  pool would keep them), so every later command reaches the new master.
- Listeners (the cache) are told of every change, synchronously, before any command runs
  on the new master; `changes` counts them.
- Like the plain pool, callers wait briefly for a free connection (`WaitingConnectionPool`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final, cast

from redis.asyncio import Redis
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError

from gomeet.redis_pool import WaitingConnectionPool
from gomeet.sentinel_url import SentinelConfig

Address = tuple[str, int]
Listener = Callable[[Address, Address], None]
SWITCH_CHANNEL: Final = "+switch-master"


class MasterChanged(RedisConnectionError):
    """A read that began before this process learnt of a new master: its answer is not
    used (it may come from either master)."""


class FollowingSentinelPool(WaitingConnectionPool, SentinelConnectionPool):
    def __init__(
        self, service_name: str, sentinel_manager: Sentinel, *, timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(
            timeout=timeout, service_name=service_name, sentinel_manager=sentinel_manager, **kwargs
        )
        self.listeners: list[Listener] = []
        self.changes = 0

    async def get_master_address(self) -> Address:
        """The sentinels' master; on a change, listeners are told and idle connections to
        the old one dropped (no await between seeing the change and telling them)."""
        # Sentinels are asked one after another: bound the whole search, not each one.
        bound = self.connection_kwargs.get("socket_connect_timeout") or 1.0
        try:
            async with asyncio.timeout(bound):
                address: Address = await self.sentinel_manager.discover_master(self.service_name)
        except TimeoutError:
            raise MasterNotFoundError(f"no sentinel named the master within {bound} s") from None
        if self.master_address != address:
            previous, self.master_address = self.master_address, address
            if previous is not None:
                self.changes += 1
                for listener in list(self.listeners):
                    listener(previous, address)
            await self.disconnect(inuse_connections=False)
        return address

    async def release(self, connection: Any) -> None:
        """A connection to a former master is closed, not pooled (redis-py's async pool
        would keep it, and later commands would still reach the old master)."""
        if (connection.host, connection.port) != self.master_address:
            await connection.disconnect()
        await super().release(connection)

    def sibling(self, max_connections: int) -> SentinelConnectionPool:
        """A small pool of its own to the same master (a subscription's connection)."""
        kwargs = {k: v for k, v in self.connection_kwargs.items() if k != "connection_pool"}
        kwargs["max_connections"] = max_connections
        return SentinelConnectionPool(  # type: ignore[no-untyped-call]
            self.service_name, self.sentinel_manager, **kwargs
        )

    async def follow(self, poll: float = 0.5) -> None:
        """Until cancelled: learn of a failover as soon as a sentinel announces it, and
        within `poll` s if no announcement arrives (a sentinel down, a message lost)."""
        sentinels = self.sentinel_manager.sentinels
        turn = 0
        while True:
            pubsub = sentinels[turn % len(sentinels)].pubsub()
            try:
                await pubsub.subscribe(SWITCH_CHANNEL)
                while True:
                    await pubsub.get_message(ignore_subscribe_messages=True, timeout=poll)
                    await self._check()
            except asyncio.CancelledError:
                raise
            except Exception:  # that sentinel is unreachable: poll, then try the next one
                turn += 1
                await self._check()
                await asyncio.sleep(poll)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _check(self) -> None:
        with contextlib.suppress(Exception):  # no sentinel answers: the next round retries
            await self.get_master_address()


class SentinelMaster(Redis):
    """The client of a Sentinel-managed master; closing it closes the sentinel clients."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def sentinel_master(
    config: SentinelConfig, options: dict[str, Any], pool_timeout: float
) -> SentinelMaster:
    """A client of the master of `config` (its name and database resolved), through its
    sentinels, with `options` (timeouts, retries; pool size) for the master's connections
    and the sentinels' alike."""
    timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
    sentinel_auth = {"username": config.sentinel_username, "password": config.sentinel_password}
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(config.sentinels),
        sentinel_kwargs={**timeouts, "retry": options.get("retry"), **sentinel_auth},
    )
    pool = FollowingSentinelPool(
        config.master or "mymaster",
        manager,
        timeout=pool_timeout,
        db=config.db or 0,
        username=config.username,
        password=config.password,
        **options,
    )
    return cast(SentinelMaster, SentinelMaster.from_pool(pool))
