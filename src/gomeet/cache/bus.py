"""The cache's subscription: invalidations for the in-process tier, fill notices for lease
waiters, over Redis pub/sub.

Every invalidation is published on `cache:invalidate` after its UNLINKs; every fill (or
failed or abandoned fill) of a leased key on `cache:filled` by the script that stores or
releases it. Each instance keeps one subscription to both on a connection of its own. The
in-process tier is served only while subscribed and emptied whenever the subscription is
(re)established or lost, so a message missed while disconnected never extends staleness
past the tier's TTL; lease waiters fall back to polling meanwhile. When the Redis master
changes (Sentinel), every subscription (the cache's, the signaling bus's) moves to the new
master: the old one no longer hears what is published on the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import orjson
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

from gomeet.cache.store import FILL_CHANNEL, INVALIDATE_CHANNEL
from gomeet.redis_sentinel import FollowingSentinelPool

PING_EVERY: Final = 5.0
WAIT: Final = 0.25  # s a wait for a message lasts (a requested reconnect waits no longer)


def message(origin: str, names: Iterable[str], indexes: Iterable[str], everything: bool) -> bytes:
    return orjson.dumps({"o": origin, "k": list(names), "i": list(indexes), "a": everything})


class Subscription:
    """Pub/sub channels on a dedicated connection, resubscribed with backoff whenever it is
    lost; calls `on_live(bool)` on every change (live once every channel is subscribed) and
    `on_message(channel, data)` per message. A lost subscription is reported once, not at
    every retry. Used by the cache (`Bus`) and by the signaling bus."""

    def __init__(
        self,
        redis: Redis | RedisCluster,
        channels: Sequence[str],
        on_live: Callable[[bool], None],
        on_message: Callable[[str, bytes], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._redis = redis
        self._channels = list(channels)
        self._on_live = on_live
        self._on_message = on_message
        self._on_error = on_error
        self.live = False
        self.closing = False
        self._moved = False

    async def run(self) -> None:
        """Subscribed until cancelled; behind Sentinel, moved to each new master."""
        pool = getattr(self._redis, "connection_pool", None)
        listeners = pool.listeners if isinstance(pool, FollowingSentinelPool) else []
        listeners.append(self._master_changed)
        try:
            await self._subscribed()
        finally:
            listeners.remove(self._master_changed)

    def _master_changed(self, _previous: tuple[str, int], _current: tuple[str, int]) -> None:
        self.reconnect()

    async def _subscribed(self) -> None:
        backoff = 0.05
        failing = False  # log a lost subscription once, not at every retry
        while True:
            own_pool = None
            pubsub: Any = None
            try:
                redis, own_pool = await _dedicated(self._redis)
                pubsub = redis.pubsub()
                await pubsub.subscribe(*self._channels)
                last_ping = time.monotonic()
                self._moved = False
                while not self._moved:
                    msg = await pubsub.get_message(timeout=WAIT)
                    if msg is not None:
                        self._handle(msg)
                        backoff = 0.05
                        failing = False
                    if time.monotonic() - last_ping >= PING_EVERY:
                        await pubsub.ping()  # a dead connection surfaces as an error
                        last_ping = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.closing:  # a client library may turn our cancellation into an error
                    return
                self._set_live(False)
                if not failing:
                    self._on_error(exc)
                    failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                self._set_live(False)
                with contextlib.suppress(Exception):
                    if pubsub is not None:
                        await pubsub.aclose()
                    if own_pool is not None:
                        await own_pool.aclose()

    def reconnect(self) -> None:
        """Subscribe again (to the new master); not live until then."""
        self._moved = True
        self._set_live(False)

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "message":
            channel = msg.get("channel")
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            self._on_message(name, msg["data"])
        elif kind == "subscribe" and msg.get("data") == len(self._channels) and not self._moved:
            self._set_live(True)  # every channel is subscribed

    def _set_live(self, live: bool) -> None:
        if live or self.live:
            self.live = live
            self._on_live(live)


class Bus(Subscription):
    """The cache's subscription: `cache:invalidate` → `on_invalidate(names, indexes, all)`
    for other instances' invalidations, `cache:filled` → `on_fill(payload)`."""

    def __init__(
        self,
        redis: Redis | RedisCluster,
        origin: str,
        on_live: Callable[[bool], None],
        on_invalidate: Callable[[list[str], list[str], bool], None],
        on_fill: Callable[[bytes], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        super().__init__(
            redis, [INVALIDATE_CHANNEL, FILL_CHANNEL], on_live, self._dispatch, on_error
        )
        self._origin = origin
        self._on_invalidate = on_invalidate
        self._on_fill = on_fill

    def _dispatch(self, channel: str, data: bytes) -> None:
        if channel == INVALIDATE_CHANNEL:
            self._invalidation(data)
        else:
            self._on_fill(data)

    def _invalidation(self, data: bytes) -> None:
        try:
            body = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            self._on_invalidate([], [], True)  # unreadable: drop everything to be safe
            return
        if not isinstance(body, dict):
            self._on_invalidate([], [], True)
            return
        if body.get("o") != self._origin:
            self._on_invalidate(body.get("k", []), body.get("i", []), bool(body.get("a")))


async def _dedicated(redis: Redis | RedisCluster) -> tuple[Redis, ConnectionPool | None]:
    """A client with its own small pool (same settings), so the subscription never takes
    one of the command pool's connections. On a cluster: a plain client on one node, as
    PUBLISH reaches the subscribers of every node. Sentinel: a pool that finds the master
    through the same sentinels."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        node = redis.get_default_node()
        pool = ConnectionPool(
            connection_class=node.connection_class, max_connections=2, **node.connection_kwargs
        )
        return Redis(connection_pool=pool), pool
    pool = redis.connection_pool
    if isinstance(pool, FollowingSentinelPool):
        sibling = pool.sibling(max_connections=2)
        return Redis(connection_pool=sibling), sibling
    own = ConnectionPool(
        connection_class=pool.connection_class, **{**pool.connection_kwargs, "max_connections": 2}
    )
    return Redis(connection_pool=own), own
