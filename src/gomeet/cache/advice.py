"""TTL advice: a recommended TTL per family from how its tracked entries ended under the
current TTL (`insights.py`), with the reason and the expected change in hit ratio.

Rules, first match wins (each needs `MIN_ENDED` entries ended under the current TTL):
1. **expires while hot** in at least 10 % of the ends (one entry in ten is reloaded right
   after it expired): raise (double, or to the bound when entries are nearly always
   invalidated first). A key read continuously misses once per TTL, so doubling it
   avoids half of those misses.
2. **never read again** in at least half of the ends: lower, to the age by which 95 % of
   the read entries had their last read (each read after that age would become a miss).
3. **invalidated before expiry** at least 90 % of the time: the TTL does not decide
   freshness (invalidation does), so it can be raised to the bound without serving
   anything staler; the entries that did expire while read are the misses it saves.
4. otherwise the TTL fits.

Expected change in hit ratio: misses saved (or added) over the tracked reads and fills
(each fill answers one miss). Recommendations stay within the family's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

MIN_ENDED: Final = 20
HOT_SHARE: Final = 0.1
NEVER_READ_SHARE: Final = 0.5
INVALIDATED_SHARE: Final = 0.9


@dataclass(frozen=True, slots=True)
class Life:
    """How the tracked entries of one family ended under one TTL."""

    ended: int = 0
    invalidated: int = 0
    expired: int = 0
    expired_hot: int = 0
    never_read: int = 0
    reads: int = 0
    fills: int = 0
    life: Mapping[int, int] | None = None  # buckets of the life of invalidated entries
    read_age: Mapping[int, int] | None = None  # buckets of the age at the last read

    def share(self, count: int) -> float:
        return count / self.ended if self.ended else 0.0


@dataclass(frozen=True, slots=True)
class Advice:
    current: float
    recommended: float
    reason: str
    expected_change: float
    rule: str

    def json(self) -> dict[str, Any]:
        return {
            "currentSeconds": _seconds(self.current),
            "recommendedSeconds": _seconds(self.recommended),
            "reason": self.reason,
            "expectedHitRatioChange": round(self.expected_change, 4),
            "rule": self.rule,
        }


def advise(
    life: Life, current: float, bounds: tuple[float, float], bucket_bounds: tuple[float, ...]
) -> Advice:
    low, high = bounds
    if life.ended < MIN_ENDED:
        return Advice(
            current, current,
            f"too few observations: {life.ended} of {MIN_ENDED} tracked entries ended "
            f"under the TTL of {duration(current)}", 0.0, "wait",
        )  # fmt: skip
    answered = max(1, life.reads + life.fills)
    hot, never, invalidated = (
        life.share(life.expired_hot), life.share(life.never_read), life.share(life.invalidated)
    )  # fmt: skip
    if hot >= HOT_SHARE and current < high:
        target = high if invalidated + hot >= INVALIDATED_SHARE else min(high, current * 2)
        target = nice(target, high)
        saved = life.expired_hot * (1 - current / target)
        return Advice(
            current, target,
            f"expires while hot {_pct(hot)} of the time: raise to {duration(target)}",
            saved / answered, "raise",
        )  # fmt: skip
    note = ""
    if never >= NEVER_READ_SHARE and current > low:
        age = _quantile_upper(life.read_age or {}, 0.95, bucket_bounds)
        target = nice(max(low, min(current, age if age is not None else low)), current)
        note = "; the entries that are read are read until they expire: lowering would lose hits"
        if target < current * 0.9:
            lost = _above(life.read_age or {}, target, bucket_bounds)
            return Advice(
                current, target,
                f"{_pct(never)} never read again: lower to {duration(target)} "
                f"(95 % of the entries read had their last read by then)",
                -lost / answered, "lower",
            )  # fmt: skip
    if invalidated >= INVALIDATED_SHARE and current < high:
        target = nice(high, high)
        saved = life.expired_hot * (1 - current / target)
        return Advice(
            current, target,
            f"invalidated before expiry {_pct(invalidated)} of the time: the TTL can be "
            f"raised to {duration(target)} without serving anything staler",
            saved / answered, "raise",
        )  # fmt: skip
    return Advice(
        current, current,
        f"the TTL fits: {_pct(invalidated)} invalidated before expiry, {_pct(hot)} expired "
        f"while hot, {_pct(never)} never read{note}",
        0.0, "keep",
    )  # fmt: skip


def bounds_for(configured: float) -> tuple[float, float]:
    """A family's TTL bounds: from a quarter to four times its configured TTL."""
    return max(1.0, configured / 4), configured * 4


def nice(seconds: float, ceiling: float) -> float:
    """Whole seconds, two significant digits past 100 s; never above `ceiling`."""
    if seconds >= 100:
        digits = 10 ** (int(math.log10(seconds)) - 1)
        seconds = round(seconds / digits) * digits
    return float(min(max(1, math.ceil(seconds)), math.floor(ceiling) or 1))


def duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def _seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 3)


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def _quantile_upper(
    buckets: Mapping[int, int], q: float, bounds: tuple[float, ...]
) -> float | None:
    """The upper bound of the bucket holding the `q` quantile."""
    total = sum(buckets.values())
    if not total:
        return None
    seen = 0
    for i in sorted(buckets):
        seen += buckets[i]
        if seen >= q * total:
            return bounds[i] if i < len(bounds) else bounds[-1] * 2
    return bounds[-1] * 2


def _above(buckets: Mapping[int, int], seconds: float, bounds: tuple[float, ...]) -> int:
    """Entries whose bucket lies wholly above `seconds`."""
    last = len(bounds)
    return sum(n for i, n in buckets.items() if i > 0 and bounds[min(i, last) - 1] >= seconds)
