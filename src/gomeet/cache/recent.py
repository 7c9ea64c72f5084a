"""Invalidations sent recently, sent again when the Redis master changes (Sentinel).

A failover can lose writes that Redis acknowledged: the new master is the replica as it
was when promoted (plus what had been replicated), and commands that still reach the old
master until every client has moved (`gomeet.redis_sentinel`) are discarded when it
rejoins as a replica. A lost invalidation would leave the new master serving the state
from before a write, for the rest of the entry's TTL. So every invalidation is noted here
before it is sent, and when the master changes, everything noted in the last `window`
seconds is replayed on the new master before this instance reads it again (the breaker
is held open meanwhile; `supervisor.py`).

Bounded by `limit` names: past it the oldest are forgotten and the replay flushes every
cache family instead (over-invalidating is always safe).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

from gomeet.cache.deferral import Deferred


class Noted(NamedTuple):
    at: float
    names: tuple[str, ...]
    indexes: tuple[str, ...]
    patterns: tuple[str, ...]


class Recent:
    def __init__(self, window: float, limit: int) -> None:
        self.window = window
        self.limit = limit
        self._noted: deque[Noted] = deque()
        self._size = 0
        self._forgot_at = float("-inf")  # when an entry still inside the window was dropped

    def __len__(self) -> int:
        return self._size

    def note(
        self, names: Iterable[str] = (), indexes: Iterable[str] = (), patterns: Iterable[str] = ()
    ) -> None:
        now = time.monotonic()
        entry = Noted(now, tuple(names), tuple(indexes), tuple(patterns))
        self._noted.append(entry)
        self._size += len(entry.names) + len(entry.indexes) + len(entry.patterns)
        self._trim(now)

    def replay_into(self, deferred: Deferred) -> int:
        """Hand everything noted within the window to `deferred` (replayed by the probe);
        the number of names, indexes and patterns handed over."""
        now = time.monotonic()
        self._trim(now)
        if self._forgot_at >= now - self.window:
            deferred.flush_everything()
        for entry in self._noted:
            deferred.add(entry.names, entry.indexes)
            for pattern in entry.patterns:
                deferred.add_pattern(pattern)
        return self._size

    def _trim(self, now: float) -> None:
        noted = self._noted
        while noted and (noted[0].at < now - self.window or self._size > self.limit):
            entry = noted.popleft()
            self._size -= len(entry.names) + len(entry.indexes) + len(entry.patterns)
            if entry.at >= now - self.window:
                self._forgot_at = now
