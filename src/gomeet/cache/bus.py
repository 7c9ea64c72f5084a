"""Cross-instance invalidation of the in-process tier over Redis pub/sub.

Every invalidation is published on `cache:invalidate` (in the same pipeline as the
UNLINKs, after them). Each instance with an in-process tier subscribes; it serves that
tier only while subscribed, and empties it whenever the subscription is (re)established
or lost, so a message missed while disconnected never extends staleness past the tier's
TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import orjson
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

CHANNEL: Final = "cache:invalidate"
PING_EVERY: Final = 5.0


def message(origin: str, names: Iterable[str], indexes: Iterable[str], everything: bool) -> bytes:
    return orjson.dumps({"o": origin, "k": list(names), "i": list(indexes), "a": everything})


class InvalidationBus:
    """Runs the subscription; calls `on_live(bool)` and `on_message(names, indexes, all)`."""

    def __init__(
        self,
        redis: Redis,
        origin: str,
        on_live: Callable[[bool], None],
        on_message: Callable[[list[str], list[str], bool], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._redis = redis
        self._origin = origin
        self._on_live = on_live
        self._on_message = on_message
        self._on_error = on_error
        self.live = False
        self.closing = False

    async def run(self) -> None:
        backoff = 0.05
        while True:
            redis, own_pool = None, None
            pubsub: Any = None
            try:
                redis, own_pool = await _dedicated(self._redis)
                pubsub = redis.pubsub()
                await pubsub.subscribe(CHANNEL)
                last_ping = time.monotonic()
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None:
                        self._handle(msg)
                        backoff = 0.05
                    if time.monotonic() - last_ping >= PING_EVERY:
                        await pubsub.ping()  # a dead connection surfaces as an error
                        last_ping = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.closing:  # a client library may turn our cancellation into an error
                    return
                self._set_live(False)
                self._on_error(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                self._set_live(False)
                with contextlib.suppress(Exception):
                    if pubsub is not None:
                        await pubsub.aclose()
                    if own_pool is not None:
                        await own_pool.aclose()

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "subscribe":
            self._set_live(True)
        elif kind == "message":
            try:
                body = orjson.loads(msg["data"])
            except (orjson.JSONDecodeError, TypeError, KeyError):
                self._on_message([], [], True)  # unreadable: drop everything to be safe
                return
            if body.get("o") != self._origin:
                self._on_message(body.get("k", []), body.get("i", []), bool(body.get("a")))

    def _set_live(self, live: bool) -> None:
        if live or self.live:
            self.live = live
            self._on_live(live)


async def _dedicated(redis: Redis | RedisCluster) -> tuple[Redis, ConnectionPool | None]:
    """A client with its own small pool (same settings), so the subscription never takes
    one of the command pool's connections. On a cluster: a plain client on one node, as
    PUBLISH reaches the subscribers of every node. Sentinel: the client as is."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        node = redis.get_default_node()
        pool = ConnectionPool(
            connection_class=node.connection_class, max_connections=2, **node.connection_kwargs
        )
        return Redis(connection_pool=pool), pool
    pool = redis.connection_pool
    if type(pool) is not ConnectionPool:
        return redis, None
    own = ConnectionPool(
        connection_class=pool.connection_class, **{**pool.connection_kwargs, "max_connections": 2}
    )
    return Redis(connection_pool=own), own
