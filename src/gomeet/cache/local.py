"""The in-process tier (L1): a bounded LRU of decoded values with a short TTL.

Values are shared, not copied: callers must treat what the cache returns as read-only.
Entries are dropped by key, by owner index (all list pages of one owner), or all at once.
The TTL is the documented staleness bound when an invalidation message is missed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any


class LocalTier:
    __slots__ = ("_by_index", "data", "max_items", "ttl")

    def __init__(self, max_items: int, ttl: float) -> None:
        self.max_items = max_items
        self.ttl = ttl
        # key -> (expires_at monotonic, value, owner index or None)
        self.data: OrderedDict[str, tuple[float, Any, str | None]] = OrderedDict()
        self._by_index: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.data)

    def put(self, name: str, value: Any, index: str | None, now: float) -> None:
        data = self.data
        if name in data:
            data.move_to_end(name)
        data[name] = (now + self.ttl, value, index)
        if index is not None:
            self._by_index.setdefault(index, set()).add(name)
        while len(data) > self.max_items:
            old, (_, _, old_index) = data.popitem(last=False)
            self._unindex(old, old_index)

    def drop(self, names: Iterable[str] = (), indexes: Iterable[str] = ()) -> None:
        data = self.data
        for name in names:
            entry = data.pop(name, None)
            if entry is not None:
                self._unindex(name, entry[2])
        for index in indexes:
            for name in self._by_index.pop(index, ()):
                data.pop(name, None)

    def clear(self) -> None:
        self.data.clear()
        self._by_index.clear()

    def _unindex(self, name: str, index: str | None) -> None:
        if index is not None:
            members = self._by_index.get(index)
            if members is not None:
                members.discard(name)
                if not members:
                    del self._by_index[index]
