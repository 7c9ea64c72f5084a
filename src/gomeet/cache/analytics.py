"""Cache analytics, the in-process half: what the hot path records, bounded, and what the
upkeep loop takes from it every flush (`insights.py` sends it to Redis, merged there).

The hot path only counts and samples, in O(1):
- **hot keys**: about one read in `hot_sample` (a random countdown, so no read pattern
  aliases with it) puts its key in a buffer of at most `max_hot` names per flush;
- **entry lives**: the keys whose CRC-32 falls in one `life_sample`-th of the hash space
  are *tracked*, by every instance alike (the choice depends on the key only), so reads
  through any instance count towards one entry. A tracked key's reads are counted
  exactly (a dict increment, at most `max_reads` between flushes); its
  fills and invalidations (not on the hot path) become events, in order, at most
  `max_events` per flush. Redis resolves them (`insights.py`): how long each entry lived,
  whether it was invalidated or expired, expired while hot, or was never read;
- **load latency** per family (a mergeable histogram, `histogram.py`).

What does not fit the bounds is dropped and counted (`dropped`), never queued without end.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zlib import crc32

from gomeet.cache.histogram import LogHistogram

Event = list[Any]  # JSON arrays, decoded by the life script (insights.py)


def now_ms() -> int:
    return int(time.time() * 1000)


def event_time() -> float:
    """Wall-clock ms to the microsecond: an invalidation and the fill it ends, recorded by
    two instances in the same millisecond, must still be told apart."""
    return round(time.time() * 1000, 3)


@dataclass
class Batch:
    """What one flush sends: ordered life events, sampled hot reads, load histograms."""

    events: list[Event] = field(default_factory=list)
    hot: list[str] = field(default_factory=list)
    loads: dict[str, dict[int, int]] = field(default_factory=dict)
    dropped: int = 0


class Recorder:
    __slots__ = ("_load_flushed", "countdown", "dropped", "events", "hot", "hot_sample",
                 "life_mask", "loads", "max_events", "max_hot", "max_reads", "read_room",
                 "reads")  # fmt: skip

    def __init__(
        self,
        families: Iterable[str],
        *,
        hot_sample: int = 16,
        life_sample: int = 8,
        max_hot: int = 4096,
        max_reads: int = 8192,
        max_events: int = 4096,
    ) -> None:
        if life_sample < 1 or life_sample & (life_sample - 1):
            raise ValueError("life_sample must be a power of two")
        self.hot_sample = max(1, hot_sample)
        self.life_mask = life_sample - 1
        self.max_hot = max_hot
        self.max_reads = max_reads
        self.max_events = max_events
        self.countdown = self._next_countdown()
        self.hot: list[str] = []
        self.reads: dict[str, int] = {}
        self.read_room = max_reads  # distinct reads left until the next flush (dict + events)
        self.events: list[Event] = []
        self.dropped = 0
        self.loads = {family: LogHistogram() for family in families}
        self._load_flushed = {family: list(h.counts) for family, h in self.loads.items()}

    # ----------------------------------------------------------------- hot path

    def tracks(self, name: str) -> bool:
        """Whether this key's entries are followed from fill to end (the same everywhere)."""
        return not crc32(name.encode()) & self.life_mask

    def sample_hot(self, name: str) -> None:
        """Called when the countdown runs out: keep this read's key for the hot-key sketch."""
        self.countdown = self._next_countdown()
        if len(self.hot) < self.max_hot:
            self.hot.append(name)
        else:
            self.dropped += 1

    def entry_read(self, name: str) -> None:
        """A read served from a tracked key's entry (either tier)."""
        reads = self.reads
        n = reads.get(name)
        if n is not None:
            reads[name] = n + 1
        elif self.read_room > 0:
            reads[name] = 1
            self.read_room -= 1
        else:
            self.dropped += 1

    def _next_countdown(self) -> int:
        return random.randint(1, 2 * self.hot_sample - 1)  # noqa: S311 - sampling, not crypto

    # ------------------------------------------------------- off the hot path

    def loaded(self, family: str, seconds: float) -> None:
        histogram = self.loads.get(family)
        if histogram is not None:
            histogram.observe(seconds)

    def filled(
        self, name: str, family: str, ttl_ms: int, nominal_ms: int, index: str | None, refresh: bool
    ) -> None:
        """A tracked key was stored (`refresh`: refreshed ahead, the entry lives on)."""
        self._cut(name)
        self._event(
            ["f", name, family, event_time(), ttl_ms, nominal_ms, index or "", int(refresh)]
        )

    def gone(self, names: Iterable[str], indexes: Iterable[str], *, counted: bool = True) -> None:
        """Keys and owner indexes (every page of them) invalidated; `counted=False`: deleted
        by an operator, which says nothing about the data's life (forgotten, not counted)."""
        t = event_time()
        for name in names:
            if self.tracks(name):
                self._cut(name)
                self._event(["g" if counted else "d", name, t])
        indexes = list(indexes)
        if indexes:
            self._cut_all()  # reads of those pages so far belong to the entries now ending
            for index in indexes:
                self._event(["i", index, t])

    def take(self) -> Batch:
        """Everything recorded since the last take (pending reads become the last event)."""
        self._cut_all()
        loads: dict[str, dict[int, int]] = {}
        for family, histogram in self.loads.items():
            deltas = histogram.deltas(self._load_flushed[family])
            if deltas:
                loads[family] = deltas
                self._load_flushed[family] = list(histogram.counts)
        batch = Batch(self.events, self.hot, loads, self.dropped)
        self.events, self.hot, self.dropped = [], [], 0
        self.read_room = self.max_reads
        return batch

    def give_back(self, batch: Batch) -> None:
        """A flush that failed: its batch comes back first, within the bounds."""
        room = max(0, self.max_events - len(self.events))
        self.dropped += batch.dropped + max(0, len(batch.events) - room)
        kept = batch.events[:room]
        self.events = kept + self.events
        self.read_room -= sum((len(e) - 2) // 2 for e in kept if e[0] == "r")
        room = max(0, self.max_hot - len(self.hot))
        self.hot = batch.hot[:room] + self.hot
        for family, deltas in batch.loads.items():
            flushed = self._load_flushed[family]
            for i, n in deltas.items():
                flushed[i] -= n

    def _cut(self, name: str) -> None:
        n = self.reads.pop(name, None)
        if n:
            self._event(["r", event_time(), name, n])

    def _cut_all(self) -> None:
        if self.reads:
            event: Event = ["r", event_time()]
            for name, n in self.reads.items():
                event += (name, n)
            self.reads = {}
            self._event(event)

    def _event(self, event: Event) -> None:
        if len(self.events) < self.max_events:
            self.events.append(event)
        else:
            self.dropped += 1
