"""Draining a durable queue of invalidations (the app's transactional outbox).

A write records its changes in the database in its own transaction; after the commit, the
writing instance applies the invalidations they map to and marks them done. Whatever is
left undone (the instance crashed, was killed, stopped while Redis was unreachable, or
cannot reach Redis while others can) is drained here, by every instance: records older
than a short grace, plus the ones this instance itself failed to deliver (`owe`), which
also hold its breaker open until they are applied (it is a `RecoveryGate`). The queue is
the app's (`DurableQueue`): it knows the database and how changes map to keys; this
module only knows names, owner indexes and record ids.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from gomeet.cache.breaker import CircuitBreaker
from gomeet.cache.meter import Meter
from gomeet.cache.stats import OTHER

Invalidate = Callable[[Sequence[str], Sequence[str]], Awaitable[bool]]


class Batch(Protocol):
    @property
    def ids(self) -> Sequence[int]:
        """The records claimed."""

    @property
    def gone(self) -> Collection[int]:
        """The `own` records that are no longer in the queue."""

    @property
    def names(self) -> Sequence[str]: ...

    @property
    def indexes(self) -> Sequence[str]: ...


class DurableQueue(Protocol):
    def claim(self, own: Collection[int], limit: int) -> AbstractAsyncContextManager[Batch]:
        """Lock the records due (older than the grace, or in `own`), mapped to keys; they
        are done when the block exits without an error (the queue deletes them soon after,
        off the drain's path, and claims them no more), and left as they were if not."""


class NotDelivered(Exception):
    """Redis could not be reached: the records stay in the queue."""


class OutboxDrain:
    def __init__(
        self,
        queue: DurableQueue,
        invalidate: Invalidate,
        breaker: CircuitBreaker,
        meter: Meter,
        interval: float,
        batch: int = 200,
    ) -> None:
        self.queue = queue
        self._invalidate = invalidate
        self.breaker = breaker
        self.meter = meter
        self.interval = interval
        self.batch = batch
        self.own: set[int] = set()
        self.drained = 0
        self._stopping = asyncio.Event()

    @property
    def pending(self) -> int:
        return len(self.own)

    def owe(self, ids: Collection[int]) -> None:
        """Records this instance wrote but could not deliver: it reads no cached value until
        they are applied (the breaker stays open)."""
        self.own.update(ids)

    def done(self, ids: Collection[int]) -> None:
        self.own.difference_update(ids)

    async def drain_once(self) -> int:
        """One batch: the number of records applied (raises NotDelivered if Redis failed)."""
        async with self.queue.claim(set(self.own), self.batch) as batch:
            self.own.difference_update(batch.gone)
            if not batch.ids:
                return 0
            if not await self._invalidate(batch.names, batch.indexes):
                raise NotDelivered(f"{len(batch.ids)} outbox records")
        self.own.difference_update(batch.ids)
        self.drained += len(batch.ids)
        return len(batch.ids)

    async def settle(self) -> None:
        """The recovery gate: apply what this instance owes (and whatever else is due)."""
        for _ in range(50):
            if not self.own:
                return
            if not await self.drain_once():
                await asyncio.sleep(0.02)  # locked by another drainer: it is applying them

    async def run(self) -> None:
        """Every `interval` while the breaker is closed: drain what is due."""
        self._stopping.clear()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            if self._stopping.is_set() or not self.breaker.closed:
                continue
            try:
                while await self.drain_once() >= self.batch:
                    pass
            except asyncio.CancelledError:
                raise
            except NotDelivered:
                pass  # the invalidation opened the breaker; the probe settles it
            except Exception as exc:  # the database failed: next round
                self.meter.failed("drain", "outbox", OTHER, 0.0, exc, redis=False)

    def stop(self) -> None:
        self._stopping.set()
