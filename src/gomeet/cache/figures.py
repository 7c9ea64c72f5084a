"""The analytics as operators read them (`/admin/cache/stats`, the dashboard): per family
hit ratios by tier, load latency, reads and invalidations per second, how entries ended
under the current TTL and the TTL advice; the hot keys (session ids masked as in the op
log); the instances; a time series for charts. Built from `insights.read_raw`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from gomeet.cache import keys
from gomeet.cache.advice import Advice, Life, advise, bounds_for
from gomeet.cache.analytics_scripts import LIFE_BOUNDS
from gomeet.cache.histogram import quantile
from gomeet.cache.insights import SLOT_SECONDS

RATE_WINDOW: Final = 60  # s of complete slots behind "per second" figures


def _buckets(counters: Mapping[str, int], prefix: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for name, n in counters.items():
        if name.startswith(prefix):
            tail = name[len(prefix) :]
            if tail.isdigit():
                out[int(tail)] = n
    return out


def life_of(counters: Mapping[str, int], family: str, ttl_ms: int) -> Life:
    p = f"life:{family}:{ttl_ms}:"
    return Life(
        ended=counters.get(p + "ended", 0),
        invalidated=counters.get(p + "invalidated", 0),
        expired=counters.get(p + "expired", 0),
        expired_hot=counters.get(p + "expired_hot", 0),
        never_read=counters.get(p + "never_read", 0),
        reads=counters.get(p + "reads", 0),
        fills=counters.get(p + "fills", 0),
        life=_buckets(counters, p + "life:"),
        read_age=_buckets(counters, p + "read_age:"),
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


def _complete_slots(slots: list[tuple[int, dict[str, int]]], now: float) -> list[dict[str, int]]:
    return [s for start, s in slots if start + SLOT_SECONDS <= now and start >= now - RATE_WINDOW]


def family_figures(
    base: dict[str, Any],
    family: str,
    raw: Mapping[str, Any],
    ttl_ms: int,
    configured: float,
    now: float,
) -> tuple[dict[str, Any], Advice]:
    """`base` (the family's `cache:stats` figures) with the analytics added."""
    counters: Mapping[str, int] = raw["counters"]
    life = life_of(counters, family, ttl_ms)
    reads = base.get("hits", 0) + base.get("misses", 0)
    l1 = base.get("l1Hits", 0)
    loads = _buckets(counters, f"load:{family}:")
    recent = _complete_slots(raw["slots"], now)
    seconds = max(1, len(recent) * SLOT_SECONDS)
    advice = advise(life, ttl_ms / 1000, bounds_for(configured), LIFE_BOUNDS)
    life_p50 = quantile_of(life.life or {}, 0.5)
    figures = {
        **base,
        "l1HitRatio": _ratio(l1, reads),
        "redisHitRatio": _ratio(base.get("hits", 0) - l1, reads - l1),
        "loadP50Ms": _ms(quantile(loads, 0.5)),
        "loadP99Ms": _ms(quantile(loads, 0.99)),
        "readsPerSecond": round(sum(s.get(f"{family}:reads", 0) for s in recent) / seconds, 3),
        "invalidationsPerSecond": round(
            sum(s.get(f"{family}:invalidations", 0) for s in recent) / seconds, 3
        ),
        "invalidatedBeforeExpiry": _ratio(life.invalidated, life.ended),
        "expiredWhileHot": _ratio(life.expired_hot, life.ended),
        "expired": _ratio(life.expired, life.ended),
        "neverRead": _ratio(life.never_read, life.ended),
        "trackedEnded": life.ended,
        "lifeP50Seconds": life_p50,
        "ttlSeconds": ttl_ms / 1000,
    }
    return figures, advice


def quantile_of(buckets: Mapping[int, int], q: float) -> float | None:
    """The upper bound (seconds) of the life bucket holding the `q` quantile."""
    total = sum(buckets.values())
    seen = 0
    for i in sorted(buckets):
        seen += buckets[i]
        if total and seen >= q * total:
            return float(LIFE_BOUNDS[min(i, len(LIFE_BOUNDS) - 1)])
    return None


def hot_keys(raw: Mapping[str, Any], sample: int) -> list[dict[str, Any]]:
    """Estimated recent reads (sampled counts times the sampling rate), masked keys."""
    out = []
    for name, score in raw["hot"]:
        family = keys.family_of(name)
        out.append(
            {
                "key": keys.display_key(name),
                "reads": round(score * sample),
                "family": family.value if family else None,
            }
        )
    return out


def instances(raw: Mapping[str, Any], now: float) -> list[dict[str, Any]]:
    out = []
    for origin, seen_ms, state in raw["instances"]:
        entry = {"id": origin, "lastSeenSecondsAgo": round(max(0.0, now - seen_ms / 1000), 1)}
        entry["reporting"] = state is not None
        entry.update(state or {})
        out.append(entry)
    return sorted(out, key=lambda e: (not e["reporting"], str(e.get("startedAt", ""))))


def series(raw: Mapping[str, Any], families: list[str], now: float) -> dict[str, Any]:
    """Per slot: each family's hit ratio, reads, loads and load p50/p99 (ms); the last
    point is the slot in progress (`partial`)."""
    points = []
    for start, slot in raw["slots"]:
        point: dict[str, Any] = {"t": start, "partial": start + SLOT_SECONDS > now}
        for family in families:
            reads = slot.get(f"{family}:reads", 0)
            if not reads and not slot.get(f"{family}:loads", 0):
                continue
            loads = _buckets(slot, f"{family}:load:")
            point[family] = {
                "reads": reads,
                "hitRatio": _ratio(slot.get(f"{family}:hits", 0), reads),
                "loads": slot.get(f"{family}:loads", 0),
                "invalidations": slot.get(f"{family}:invalidations", 0),
                "errors": slot.get(f"{family}:errors", 0),
                "loadP50Ms": _ms(quantile(loads, 0.5)),
                "loadP99Ms": _ms(quantile(loads, 0.99)),
            }
        points.append(point)
    return {"slotSeconds": SLOT_SECONDS, "points": points}


def now_s() -> float:
    return time.time()


def add_analytics(
    out: dict[str, Any],
    raw: Mapping[str, Any] | None,
    ttl_ms: Mapping[str, int],
    configured: Mapping[str, float],
    hot_sample: int,
) -> None:
    """Complete a rendered `cache:stats` (`stats.render`) with the analytics of `raw`
    (None: Redis could not be read; the families' analytics are then null)."""
    now = now_s()
    families: dict[str, Any] = out["families"]
    if raw is None:
        for figures in families.values():
            figures.update(dict.fromkeys(_ANALYTICS_FIELDS))
        out["hotKeys"], out["ttlAdvice"], out["ttl"] = [], {}, {}
        return
    advice: dict[str, Any] = {}
    for family, ms in ttl_ms.items():
        figures, family_advice = family_figures(
            families.get(family, {}), family, raw, ms, configured[family], now
        )
        if family in families:
            families[family] = figures
        applied = raw["ttls"].get(family)
        advice[family] = {
            **family_advice.json(),
            "configuredSeconds": configured[family],
            "bounds": list(bounds_for(configured[family])),
            "applied": applied,
        }
    out["hotKeys"] = hot_keys(raw, hot_sample)
    out["ttlAdvice"] = advice
    out["ttl"] = {"log": raw["ttlLog"]}


_ANALYTICS_FIELDS: Final = ("l1HitRatio", "redisHitRatio", "loadP50Ms", "loadP99Ms",
                            "readsPerSecond", "invalidationsPerSecond", "invalidatedBeforeExpiry",
                            "expiredWhileHot", "expired", "neverRead", "trackedEnded",
                            "lifeP50Seconds", "ttlSeconds")  # fmt: skip
