"""What a consistency check found, and its summary table."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from consistency.history import StaleRead


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request of a check: where, what, when (monotonic s) and its status (0: the
    connection failed)."""

    instance: str
    endpoint: str
    kind: str  # read | write
    start: float
    end: float
    status: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 < q <= 100) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class StaleEntry:
    """After quiescence, an instance's answer that differs from the oracle's."""

    endpoint: str
    label: str  # the subject: a meeting's, user's or guest's tag
    instance: str
    difference: str  # the first place where the two `data` differ


def first_difference(expected: Any, seen: Any, path: str = "data") -> str:
    """`data.meetings[0].name: 'm1-v3-odd' != 'm1-v2-even'`, the oracle's value first."""
    if isinstance(expected, dict) and isinstance(seen, dict):
        for key in sorted(expected.keys() | seen.keys()):
            if expected.get(key) != seen.get(key):
                return first_difference(expected.get(key), seen.get(key), f"{path}.{key}")
    if isinstance(expected, list) and isinstance(seen, list) and len(expected) == len(seen):
        for i, (e, s) in enumerate(zip(expected, seen, strict=True)):
            if e != s:
                return first_difference(e, s, f"{path}[{i}]")
    return f"{path}: oracle {_short(expected)} != {_short(seen)}"


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Report:
    duration: float
    settle: float
    ops: Counter[tuple[str, str]]
    by_instance: Counter[str]
    reads: int
    stale_reads: list[StaleRead]
    stale_entries: list[StaleEntry]
    errors: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def statuses(self, start: float = -math.inf, end: float = math.inf) -> Counter[int]:
        """How many requests answered each status, of those that began in [start, end)."""
        return Counter(o.status for o in self.outcomes if start <= o.start < end)

    def latency(self, q: float) -> float:
        """The `q`-th percentile of every request's duration, in seconds."""
        return percentile([o.seconds for o in self.outcomes], q)

    @property
    def operations(self) -> int:
        return sum(self.ops.values())

    @property
    def writes(self) -> int:
        return sum(n for (_, kind), n in self.ops.items() if kind == "write")

    def stale(self, *, beyond: float = 0.0, instances: set[str] | None = None) -> list[StaleRead]:
        """Stale observations lagging more than `beyond` s, on the given instances."""
        return [
            s
            for s in self.stale_reads
            if s.lag > beyond and (instances is None or s.instance in instances)
        ]

    @staticmethod
    def reads_of(stale: list[StaleRead]) -> int:
        """Distinct reads among stale observations (one read may miss several writes)."""
        return len({(s.endpoint, s.instance, s.start) for s in stale})

    def worst_lag(self, instances: set[str] | None = None) -> float:
        lags = [s.lag for s in self.stale(instances=instances) if math.isfinite(s.lag)]
        return max(lags, default=0.0)

    def summary(self) -> str:
        lines = [
            f"{self.operations} operations ({self.reads} reads, {self.writes} writes) in "
            f"{self.duration:.1f} s, by instance {dict(sorted(self.by_instance.items()))}; "
            f"settle {self.settle:.1f} s",
            f"{'endpoint':44} {'reads':>7} {'writes':>7} {'stale reads':>12} {'stale entries':>14}",
        ]
        stale_by = Counter(s.endpoint for s in self.stale_reads)
        distinct_by = Counter(
            e for (e, _, _) in {(s.endpoint, s.instance, s.start) for s in self.stale_reads}
        )
        entries_by = Counter(e.endpoint for e in self.stale_entries)
        for endpoint in sorted({e for e, _ in self.ops} | set(stale_by)):
            lines.append(
                f"{endpoint:44} {self.ops[(endpoint, 'read')]:>7} "
                f"{self.ops[(endpoint, 'write')]:>7} {distinct_by[endpoint]:>12} "
                f"{entries_by[endpoint]:>14}"
            )
        lines.append(
            f"stale reads: {self.reads_of(self.stale_reads)} "
            f"({len(self.stale_reads)} observations; {self.reads_of(self.stale(beyond=1.0))} "
            f"beyond 1 s; worst lag {self.worst_lag():.3f} s); "
            f"stale entries: {len(self.stale_entries)}; errors: {len(self.errors)}"
        )
        worst: dict[str, StaleRead] = {}  # per register kind and instance: the worst lag
        for s in self.stale_reads:
            key = f"{s.register.kind} on {s.instance}"
            if key not in worst or s.lag > worst[key].lag:
                worst[key] = s
        counts = Counter(f"{s.register.kind} on {s.instance}" for s in self.stale_reads)
        for key, s in sorted(worst.items()):
            lines.append(
                f"  stale {key} x{counts[key]}, worst: {s.endpoint} {s.register.label}: "
                f"expected {s.expected!r}, seen {s.seen!r}, lag {s.lag:.3f} s"
            )
        examples: dict[str, StaleEntry] = {}
        for e in self.stale_entries:
            examples.setdefault(f"{e.endpoint} on {e.instance}", e)
        for key, e in sorted(examples.items()):
            lines.append(f"  stale entry {key} ({e.label}): {e.difference}")
        lines += [f"  error: {e}" for e in self.errors[:5]]
        return "\n".join(lines)
