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

    async def run(self) -> None:
        redis, own_pool = _dedicated(self._redis)
        try:
            await self._run(redis)
        finally:
            if own_pool is not None:
                with contextlib.suppress(Exception):
                    await own_pool.aclose()

    async def _run(self, redis: Redis) -> None:
        backoff = 0.05
        while True:
            pubsub: Any = redis.pubsub()
            try:
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
                self._set_live(False)
                self._on_error(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                self._set_live(False)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

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


def _dedicated(redis: Redis) -> tuple[Redis, ConnectionPool | None]:
    """A client with its own one-connection pool (same settings), so the subscription
    never takes one of the command pool's connections. Cluster/Sentinel: the client as is."""
    pool = getattr(redis, "connection_pool", None)
    if type(pool) is not ConnectionPool:
        return redis, None
    own = ConnectionPool(
        connection_class=pool.connection_class, **{**pool.connection_kwargs, "max_connections": 2}
    )
    return Redis(connection_pool=own), own
