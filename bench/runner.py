"""Interleaved rounds, medians and side-by-side ratios: the maths every scenario shares.

The compared variants run in rounds, each round running every variant once, so that a
noisy neighbour or a warming CPU hits all of them alike. The order rotates from round to
round (A B C, B C A, C A B, ...) so that no variant is always first. A variant's throughput
is the median of its per-round rates; its ratio to the baseline is the median of the
per-round ratios, each measured side by side in the same round.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import progress

RoundFn = Callable[[], Awaitable["Sample"]]


@dataclass
class Sample:
    """One variant's measurement in one round."""

    ops: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, one per operation
    extra: dict[str, float] = field(default_factory=dict)  # scenario-specific counters

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0


@dataclass
class VariantStats:
    """A variant summarised over all rounds (JSON-ready through `as_dict`)."""

    name: str
    rounds: int
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    ratio: float | None  # median of per-round ratios to the baseline
    ratio_min: float | None
    ratio_max: float | None
    extra: dict[str, float] = field(default_factory=dict)  # medians of the extra counters

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rounds": self.rounds,
            "ops_per_s": self.ops_per_s,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "ratio": self.ratio,
            "ratio_min": self.ratio_min,
            "ratio_max": self.ratio_max,
            "extra": self.extra,
        }


def interleaved_order(names: Sequence[str], rounds: int) -> list[list[str]]:
    """The run order of each round: every variant once, rotated by the round number."""
    if not names:
        return []
    n = len(names)
    return [[names[(r + i) % n] for i in range(n)] for r in range(rounds)]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def paired_ratios(variant: Sequence[Sample], baseline: Sequence[Sample]) -> list[float]:
    """Per-round throughput ratios variant/baseline, rounds with a zero baseline skipped."""
    return [v.rate / b.rate for v, b in zip(variant, baseline, strict=True) if b.rate > 0]


def spread(ratios: Sequence[float]) -> dict[str, float | None]:
    """Median, min and max of per-round ratios (None each when there were none)."""
    if not ratios:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def summarize(samples: Mapping[str, Sequence[Sample]], baseline: str | None) -> list[VariantStats]:
    """One VariantStats per variant, in the mapping's order; latencies pooled over rounds."""
    result = []
    for name, runs in samples.items():
        latencies = [lat for s in runs for lat in s.latencies]
        base = samples.get(baseline) if baseline is not None else None
        ratios = paired_ratios(runs, base) if base is not None else []
        keys = sorted({k for s in runs for k in s.extra})
        result.append(
            VariantStats(
                name=name,
                rounds=len(runs),
                ops_per_s=median([s.rate for s in runs]),
                p50_ms=percentile(latencies, 50) * 1000,
                p99_ms=percentile(latencies, 99) * 1000,
                ratio=median(ratios) if ratios else None,
                ratio_min=min(ratios) if ratios else None,
                ratio_max=max(ratios) if ratios else None,
                extra={k: median([s.extra[k] for s in runs if k in s.extra]) for k in keys},
            )
        )
    return result


async def run_rounds(variants: Mapping[str, RoundFn], rounds: int) -> dict[str, list[Sample]]:
    """Run every variant once per round in the rotated order; samples keyed by variant."""
    samples: dict[str, list[Sample]] = {name: [] for name in variants}
    progress.expect(rounds * len(variants))
    for order in interleaved_order(list(variants), rounds):
        for name in order:
            samples[name].append(await variants[name]())
            progress.advance()
    return samples
