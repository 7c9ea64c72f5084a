"""Invalidations kept in memory while Redis cannot be reached, replayed before Redis is read
again (`supervisor.py`).

Only invalidations with no durable copy are kept here: operators' deletes and flushes, and
write-through sets that failed. A write's invalidations are durable in the transactional
outbox instead (`drain.py`). Bounded: past `limit` entries the set is dropped and replaced
by a flush of every cache family on recovery (over-invalidating is always safe).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Kept:
    names: set[str] = field(default_factory=set)
    indexes: set[str] = field(default_factory=set)
    patterns: set[str] = field(default_factory=set)
    overflow: bool = False

    def __len__(self) -> int:
        return len(self.names) + len(self.indexes) + len(self.patterns) + int(self.overflow)


class Deferred:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = Kept()

    def __len__(self) -> int:
        return len(self.kept)

    def add(self, names: Iterable[str] = (), indexes: Iterable[str] = ()) -> None:
        self.kept.names.update(names)
        self.kept.indexes.update(indexes)
        self._bound()

    def add_pattern(self, pattern: str) -> None:
        self.kept.patterns.add(pattern)
        self._bound()

    def flush_everything(self) -> None:
        """Flush every cache family on recovery (what was kept is part of that)."""
        self.kept = Kept(overflow=True)

    def take(self) -> Kept:
        kept, self.kept = self.kept, Kept()
        return kept

    def give_back(self, kept: Kept) -> None:
        """What a failed replay had not applied yet, merged with anything kept since."""
        self.kept.names |= kept.names
        self.kept.indexes |= kept.indexes
        self.kept.patterns |= kept.patterns
        self.kept.overflow |= kept.overflow
        self._bound()

    def _bound(self) -> None:
        if len(self.kept) > self.limit:
            self.flush_everything()
