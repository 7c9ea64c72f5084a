"""The cross-process signaling bus: Redis pub/sub on one channel (§6.10).

Each process publishes what the other processes must apply (a connection joined or left,
a relay to a connection they hold, a meeting closed) and applies what the others publish.
Publishing never waits: events go into one FIFO that a single task sends in pipelined
batches, in order, so everything one process produces for a meeting reaches the others in
the order it was produced (relays from A to B included). Receiving uses the cache's
`Subscription` (its own connection, resubscribed with backoff).

While Redis is unreachable nothing is queued for later: signaling is live traffic, and
what was missed is repaired from the registry when Redis is back (the hub's reconcile).

Every instance receives every event and ignores those of meetings it holds no connection
in. That is one channel's fan-out, fine for a handful of instances; per-meeting or sharded
channels would be the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gomeet.cache.bus import Subscription

CHANNEL: Final = "signal:events"
MAX_PENDING: Final = 10_000
BATCH: Final = 256
RETRY_AFTER_FAILURE_S: Final = 0.5
WARNING_INTERVAL_S: Final = 30.0

# Event kinds (`k`); every event has `o` (origin instance) and `m` (meeting id).
JOINED: Final = "j"  # p: participant id, r: member record
LEFT: Final = "l"  # p: participant id
RELAY: Final = "r"  # p: recipient id, t: the envelope text to deliver as is
CLOSE: Final = "c"  # c: close code, for every connection of the meeting

Event = dict[str, Any]
T = TypeVar("T")

log = structlog.get_logger("gomeet.signaling")


class SignalBus:
    def __init__(
        self,
        redis: Redis,
        instance: str,
        on_event: Callable[[Event], None],
        on_live: Callable[[bool], None],
    ) -> None:
        self.instance = instance
        self._redis = redis
        self._on_event = on_event
        self._pending: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._skip_until = 0.0
        self._warn = RedisWarning(
            "signaling_bus_unavailable",
            "Redis unreachable: cross-process signaling paused, same-process goes on",
        )
        self.published = 0
        self.dropped = 0
        self.received = 0
        self.failed = False  # the last publish failed (the hub re-syncs when Redis is back)
        self._on_live = on_live
        self._attempted = asyncio.Event()  # the first subscription attempt has ended
        self._subscription = Subscription(
            redis, [CHANNEL], self._live_changed, lambda _, data: self._decode(data), self._failed
        )

    @property
    def live(self) -> bool:
        return self._subscription.live

    def publish(self, kind: str, meeting_id: str, **fields: Any) -> None:
        """Queue one event for the other processes; never waits, never raises."""
        if time.monotonic() < self._skip_until or len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            self.failed = True
            return
        event = {"o": self.instance, "k": kind, "m": meeting_id, **fields}
        self._pending.append(orjson.dumps(event))
        self._idle.clear()
        self._wakeup.set()

    async def run(self) -> None:
        """The publisher and the subscription, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._publish_loop())
            group.create_task(self._subscription.run())

    def stop(self) -> None:
        self._subscription.closing = True

    async def first_attempt(self, timeout_s: float) -> None:
        """Wait (bounded) until the subscription is live or has failed once: a process
        starts serving with its bus up when Redis is, and its first warning logged."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), timeout_s)

    def _live_changed(self, live: bool) -> None:
        self._attempted.set()
        self._on_live(live)

    def _failed(self, exc: BaseException) -> None:
        self._attempted.set()
        self._warn(exc)

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) until what was queued has been sent or dropped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)

    async def _publish_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
                try:
                    await retry_once_on_connection_error(functools.partial(self._send, batch))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # What waits behind a failed batch is as stale as the batch: drop it too.
                    self.dropped += len(batch) + len(self._pending)
                    self._pending.clear()
                    self.failed = True
                    self._skip_until = time.monotonic() + RETRY_AFTER_FAILURE_S
                    self._warn(exc)
                else:
                    self.published += len(batch)
            self._idle.set()

    async def _send(self, batch: list[bytes]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for event in batch:
            pipe.publish(CHANNEL, event)
        await pipe.execute()

    def _decode(self, data: bytes) -> None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict) or event.get("o") == self.instance:
            return
        self.received += 1
        self._on_event(event)


class RedisWarning:
    """One warning record per `WARNING_INTERVAL_S` at most, however often Redis fails."""

    def __init__(self, event: str, msg: str) -> None:
        self.event = event
        self.msg = msg
        self._last = -WARNING_INTERVAL_S

    def __call__(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last >= WARNING_INTERVAL_S:
            self._last = now
            log.warning(self.event, error=f"{type(exc).__name__}: {exc}", msg=self.msg)


async def retry_once_on_connection_error(call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, and once more if its connection was refused or dropped: after a Redis
    restart each pooled connection is stale and fails once (the client retries nothing
    itself, so that a dead Redis costs milliseconds). A timeout is not retried."""
    try:
        return await call()
    except RedisConnectionError:
        return await call()
