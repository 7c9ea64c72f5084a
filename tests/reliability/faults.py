"""Faults under load: what every scenario of tests/reliability/ shares.

A scenario runs the consistency checker (tests/consistency/checker.py: sequential writers
and concurrent readers of every read endpoint, through two app instances A and B on one
PostgreSQL and one Redis, a `GOMEET_CACHE=off` oracle judging the end) while it injects a
fault; its figures are printed (`-s`) as one `FIGURES` line, and the same checks follow
every fault: nothing failed that the promise says must not, no read was stale beyond the
stated window, and the quiescence pass found 0 stale entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from consistency.instances import Instance, OpenClient
from consistency.report import Outcome, Report
from helpers import scrape
from support.apps import NEVER_REFUSING_LIMITS, app_settings, open_app

# CONTRACT §4: within 1 s of an instance reaching Redis again, nothing disagrees with the
# database; a read lagging an acknowledged write by more than this is a failure.
STALE_BOUND_S = 1.0


def opener(database_url: str, redis_url: str, var: Path) -> OpenClient:
    """`open_client(**overrides)` for `consistency.instances.cluster`: test apps on these
    servers with the rate limiter running (never refusing), errors logged only (a fault's
    warnings would bury the figures); overrides win (`redis_url`,
    `database_url` of a proxy)."""

    def open_client(**overrides: Any) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        values = {**NEVER_REFUSING_LIMITS, "log_level": "ERROR", **overrides}
        db = values.pop("database_url", database_url)
        redis = values.pop("redis_url", redis_url)
        return open_app(app_settings(db, redis, var, **values))

    return open_client


def cache_of(instance: Instance) -> Any:
    return instance.client.app.state.cache  # type: ignore[attr-defined]


async def hits(redis_url: str) -> int:
    """`cache:stats` hits, summed over every instance (0 when Redis was emptied)."""
    redis = Redis.from_url(redis_url)
    try:
        return int(await redis.hget("cache:stats", "hits") or 0)
    finally:
        await redis.aclose()


async def caching_resumed(
    instances: Iterable[Instance], redis_url: str, since: int, limit_s: float = 30.0
) -> float:
    """Seconds until every instance's breaker is closed and `cache:stats` counts hits beyond
    `since` again (the load's reads hit Redis); fails after `limit_s`. Event-driven: the
    bound is a liveness one, not a speed assertion."""
    start = time.monotonic()
    while True:
        closed = all(cache_of(i).breaker.closed for i in instances)
        if closed and await hits(redis_url) > since:
            return time.monotonic() - start
        assert time.monotonic() - start < limit_s, "caching did not resume"
        await asyncio.sleep(0.05)


async def cache_reads(client: httpx.AsyncClient) -> dict[str, int]:
    """The instance's cache reads by result (hit, miss, error: served from the database
    without asking Redis), summed over the families (`gomeet_cache_requests`)."""
    totals: dict[str, int] = {}
    for s in await scrape(client):
        if s.name == "gomeet_cache_requests_total":
            totals[s.labels["result"]] = totals.get(s.labels["result"], 0) + int(s.value)
    return totals


def figures(name: str, report: Report, **extra: Any) -> str:
    """One line of what a scenario saw (and the checker's table below it)."""
    parts = [
        f"requests {len(report.outcomes)}",
        f"writes {report.writes}",
        f"statuses {dict(sorted(report.statuses().items()))}",
        f"p50 {report.latency(50) * 1000:.0f} ms",
        f"p99 {report.latency(99) * 1000:.0f} ms",
        f"max {report.latency(100) * 1000:.0f} ms",
        f"stale reads {report.reads_of(report.stale_reads)}"
        f" (beyond {STALE_BOUND_S:g} s: {report.reads_of(report.stale(beyond=STALE_BOUND_S))})",
        f"stale entries {len(report.stale_entries)}",
    ]
    parts += [f"{k.replace('_', ' ')} {_show(v)}" for k, v in extra.items()]
    return f"\nFIGURES {name}: " + "; ".join(parts) + "\n" + report.summary()


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if math.isfinite(value) else "inf"
    return str(value)


def assert_consistent(report: Report) -> None:
    """The checks after every fault: no read stale beyond the bound, 0 stale entries."""
    late = report.stale(beyond=STALE_BOUND_S)
    assert late == [], f"{Report.reads_of(late)} stale reads beyond the bound\n{report.summary()}"
    assert report.stale_entries == [], report.summary()


def after_a_failed_join(error: str) -> bool:
    """A writer's join that failed (a 503, or its instance died) did not happen, so its
    next leave finds no row: that 404 is the right answer (the checker's writers keep
    their intent, not the outcome)."""
    return "leave" in error and " 404 " in error and "PARTICIPANT_NOT_FOUND" in error


def leaves_after_a_failed_join(report: Report) -> list[Outcome]:
    """The requests that are such a leave (`after_a_failed_join`), checked to be nothing
    else: every 404 the load got says PARTICIPANT_NOT_FOUND, on a leave."""
    leaves = [o for o in report.outcomes if o.status == 404 and "leave" in o.endpoint]
    answered = [e for e in report.errors if " 404 " in e]
    assert len(answered) == len(leaves), answered
    assert all(map(after_a_failed_join, answered)), answered
    return leaves
