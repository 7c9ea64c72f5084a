"""Cache statistics: counted in-process, flushed to the `cache:stats` hash.

Counting is a list increment on the hot path. Counters are cumulative since start (that
is what Prometheus scrapes); a flush sends the difference to what was flushed before, with
HINCRBY in one MULTI/EXEC, and only then marks it flushed, so a failed flush loses nothing.

Per request exactly one of `hits`, `misses` or `fallbacks` is counted: a hit is served from
the cache (in-process tier or Redis; `l1_hits` counts the former), a miss found nothing and
was loaded, a fallback was served by the loader because Redis failed or the breaker was
open. In the hash, `misses` includes the fallbacks (every request the cache did not serve),
so `hits + misses` is the number of reads and `hitRatio = hits / (hits + misses)`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from gomeet.cache.families import Family

FIELDS: Final = ("hits", "misses", "fallbacks", "loads", "sets", "deletes", "errors", "l1_hits")
HITS, MISSES, FALLBACKS, LOADS, SETS, DELETES, ERRORS, L1_HITS = range(len(FIELDS))
OTHER: Final = "other"  # operations on keys outside the known families (raw get/set/delete)
GROUPS: Final = (*(f.value for f in Family), OTHER)
LAST_UPDATED: Final = "last_updated"
BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                  0.25, 0.5, 1.0, 2.5)  # fmt: skip
OPS: Final = ("get", "set", "delete", "load", "refresh", "flush_stats", "health_check")


class Histogram:
    """A Prometheus-style histogram without locks (one event loop owns it)."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        out, total = [], 0
        for bound, count in zip((*map(str, BUCKETS), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out


class CacheStats:
    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {group: [0] * len(FIELDS) for group in GROUPS}
        self._flushed: dict[str, list[int]] = {group: [0] * len(FIELDS) for group in GROUPS}
        self.ops: dict[str, Histogram] = {op: Histogram() for op in OPS}
        self.fields_written = False

    def totals(self) -> list[int]:
        return [sum(c[i] for c in self.counts.values()) for i in range(len(FIELDS))]

    def pending(self) -> tuple[dict[str, int], dict[str, list[int]]]:
        """HINCRBY deltas not yet flushed, and the snapshot that they bring the hash to."""
        snapshot = {group: list(c) for group, c in self.counts.items()}
        deltas: dict[str, int] = {}
        totals = [0] * len(FIELDS)
        for group, now in snapshot.items():
            before = self._flushed[group]
            for i, field in enumerate(FIELDS):
                delta = now[i] - before[i]
                if delta:
                    deltas[f"{group}:{field}"] = delta
                    totals[i] += delta
        if totals[FALLBACKS]:
            totals[MISSES] += totals[FALLBACKS]  # the hash's `misses` includes fallbacks
            for group, now in snapshot.items():
                delta = now[FALLBACKS] - self._flushed[group][FALLBACKS]
                if delta:
                    deltas[f"{group}:misses"] = deltas.get(f"{group}:misses", 0) + delta
        if deltas or not self.fields_written:
            for i, field in enumerate(FIELDS):  # the hash always holds every total field
                deltas[field] = totals[i]
        return deltas, snapshot

    def mark_flushed(self, snapshot: dict[str, list[int]]) -> None:
        self._flushed = snapshot
        self.fields_written = True


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _ratio(hits: int, misses: int) -> float:
    return round(hits / (hits + misses), 4) if hits + misses else 0.0


def _figures(values: Mapping[str, int], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "hits": values.get(f"{prefix}hits", 0),
        "misses": values.get(f"{prefix}misses", 0),
        "sets": values.get(f"{prefix}sets", 0),
        "deletes": values.get(f"{prefix}deletes", 0),
        "errors": values.get(f"{prefix}errors", 0),
        "loads": values.get(f"{prefix}loads", 0),
        "fallbacks": values.get(f"{prefix}fallbacks", 0),
        "l1Hits": values.get(f"{prefix}l1_hits", 0),
    }
    out["hitRatio"] = _ratio(out["hits"], out["misses"])
    return out


def render(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """The API shape of a `cache:stats` hash (HGETALL)."""
    values: dict[str, int] = {}
    last_updated: str | None = None
    for k, v in raw.items():
        field = k.decode() if isinstance(k, bytes) else k
        text = v.decode() if isinstance(v, bytes) else v
        if field == LAST_UPDATED:
            last_updated = text
            continue
        try:
            values[field] = int(text)
        except ValueError:
            continue
    out = _figures(values)
    out["lastUpdated"] = last_updated
    out["families"] = {
        group: _figures(values, f"{group}:")
        for group in GROUPS
        if any(f"{group}:{field}" in values for field in FIELDS)
    }
    return out


def render_local(stats: CacheStats) -> dict[str, Any]:
    """The same shape from this process's counters (when Redis cannot be read)."""
    flat: dict[str, int] = {}
    totals = stats.totals()
    for i, field in enumerate(FIELDS):
        flat[field] = totals[i]
    flat["misses"] += totals[FALLBACKS]
    for group, counts in stats.counts.items():
        for i, field in enumerate(FIELDS):
            if counts[i]:
                flat[f"{group}:{field}"] = counts[i]
        if counts[FALLBACKS]:
            flat[f"{group}:misses"] = counts[MISSES] + counts[FALLBACKS]
    return render({k: str(v) for k, v in flat.items()})
