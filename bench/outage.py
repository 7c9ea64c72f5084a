"""outage: Redis is stopped mid-run, then started again, under the api-read load.

A cache-off run of the same length gives the baseline; then the Redis-only server takes
the load while Redis is stopped for `outage_seconds` and restarted (empty, on the same
port). Reported: failed requests (the target is 0), p99 before, during and after the
outage against the baseline p99, and whether the cache served hits again after the restart.
"""

from __future__ import annotations

import time
from typing import Any

from bench.api import ApiEnvironment, counter_delta
from bench.runner import percentile

BUCKET_SECONDS = 0.25


def _p99_ms(latencies: list[float]) -> float:
    return percentile(latencies, 99) * 1000


def run_outage(env: ApiEnvironment) -> dict[str, Any]:
    if not env.redis.restartable:
        return {"scenario": "outage", "skipped": "BENCH_REDIS_URL is not ours to stop"}
    profile = env.profile
    off, on = env.servers["off"], env.servers["redis"]
    env.loadgen.run(on.base_url, profile.api_round_warmup)
    baseline = env.loadgen.run(off.base_url, profile.outage_seconds)

    total = profile.outage_before + profile.outage_seconds + profile.outage_after
    env.loadgen.start(on.base_url, total, timeline=True)
    started = time.time()
    time.sleep(profile.outage_before)
    stopped_at = time.time()
    env.redis.stop()
    time.sleep(profile.outage_seconds)
    env.redis.start()
    restarted_at = time.time()
    at_restart = on.counters()
    result = env.loadgen.result(total + 60)
    at_end = on.counters()

    phases: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    failed = {"before": 0, "during": 0, "after": 0}
    for wall, latency, ok in result["timeline"]:
        phase = "before" if wall < stopped_at else "during" if wall < restarted_at else "after"
        phases[phase].append(latency)
        failed[phase] += 0 if ok else 1
    base_p99 = _p99_ms(baseline["latencies"])
    during_p99 = _p99_ms(phases["during"])
    return {
        "scenario": "outage",
        "outage_seconds": restarted_at - stopped_at,
        "run_seconds": total,
        "started_offset": stopped_at - started,
        "requests": result["ops"],
        "failed": result["failed"],
        "failed_by_phase": failed,
        "failed_by_kind": result["failed_by_kind"],
        "baseline_failed": baseline["failed"],
        "baseline_p99_ms": base_p99,
        "p99_ms": {phase: _p99_ms(lat) for phase, lat in phases.items()},
        "requests_by_phase": {phase: len(lat) for phase, lat in phases.items()},
        "during_vs_baseline_p99": during_p99 / base_p99 if base_p99 else None,
        "hits_after_restart": counter_delta(at_end, at_restart, "cache", "hit"),
        "buckets": buckets(result["timeline"], started, BUCKET_SECONDS),
    }


def buckets(
    timeline: list[tuple[float, float, bool]], origin: float, width: float
) -> list[dict[str, float]]:
    """Per time slice since `origin`: requests, failures, p50 and p99 (ms), for the plot."""
    slices: dict[int, list[tuple[float, bool]]] = {}
    for wall, latency, ok in timeline:
        slices.setdefault(int((wall - origin) // width), []).append((latency, ok))
    return [
        {
            "t": index * width,
            "requests": len(items),
            "failed": sum(1 for _, ok in items if not ok),
            "p50_ms": percentile([lat for lat, _ in items], 50) * 1000,
            "p99_ms": percentile([lat for lat, _ in items], 99) * 1000,
        }
        for index, items in sorted(slices.items())
    ]
