"""The in-process tier (L1): decoded values with a short TTL, bounded in entries and bytes.

Least recently *read* entries are evicted first (a hit moves its entry to the end). The
size of an entry is the length of its JSON, which the fill path already holds. Values are
shared, not copied: callers must treat what the cache returns as read-only. Entries are
dropped by key, by owner index (all list pages of one owner), or all at once; the TTL is the
documented staleness bound when an invalidation message is missed.

`seq` counts every invalidation this tier has seen: a fill that read Redis before one must
not put what it read (it may predate the write), so fills capture `seq` first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from time import monotonic
from typing import Any, NamedTuple


class Entry(NamedTuple):
    expires: float  # monotonic
    value: Any
    owner: str | None  # the owner index of a list page
    size: int
    tracked: bool  # its key is followed by the analytics (`analytics.Recorder.tracks`)


class LocalTier:
    __slots__ = ("_by_index", "bytes", "data", "live", "max_bytes", "max_items", "seq", "ttl")

    def __init__(self, max_items: int, max_bytes: int, ttl: float) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.data: OrderedDict[str, Entry] = OrderedDict()
        self._by_index: dict[str, set[str]] = {}
        self.bytes = 0
        self.seq = 0
        self.live = False  # served only while its invalidation subscription is up

    def __len__(self) -> int:
        return len(self.data)

    def get(self, name: str) -> Entry | None:
        """A live entry (moved to the most recently read end), or None."""
        entry = self.data.get(name)
        if entry is None:
            return None
        if entry.expires <= monotonic():
            self._remove(name)
            return None
        self.data.move_to_end(name)
        return entry

    def put(
        self, name: str, value: Any, index: str | None, size: int, seq: int, tracked: bool = False
    ) -> None:
        """Keep a value read or loaded while `self.seq` was `seq` (else it may be stale)."""
        if seq != self.seq or not self.live or size > self.max_bytes:
            return
        if name in self.data:
            self._remove(name)
        self.data[name] = Entry(monotonic() + self.ttl, value, index, size, tracked)
        self.bytes += size
        if index is not None:
            self._by_index.setdefault(index, set()).add(name)
        while len(self.data) > self.max_items or self.bytes > self.max_bytes:
            self._remove(next(iter(self.data)))

    def drop(self, names: Iterable[str] = (), indexes: Iterable[str] = ()) -> None:
        self.seq += 1
        for name in names:
            self._remove(name)
        for index in indexes:
            for name in list(self._by_index.get(index, ())):
                self._remove(name)

    def clear(self) -> None:
        self.seq += 1
        self.data.clear()
        self._by_index.clear()
        self.bytes = 0

    def _remove(self, name: str) -> None:
        entry = self.data.pop(name, None)
        if entry is None:
            return
        self.bytes -= entry.size
        if entry.owner is not None:
            members = self._by_index.get(entry.owner)
            if members is not None:
                members.discard(name)
                if not members:
                    del self._by_index[entry.owner]
