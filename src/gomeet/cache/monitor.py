"""Monitoring the cache: its stats with the analytics, the dashboard's data, the health
probe (the bodies of `CacheRepository`'s monitoring methods)."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from gomeet.cache import figures, keys
from gomeet.cache.figures import add_analytics
from gomeet.cache.insights import read_raw
from gomeet.cache.stats import render, render_local

if TYPE_CHECKING:
    from gomeet.cache.repository import CacheRepository


async def cache_stats(self: CacheRepository) -> dict[str, Any]:
    """`cache:stats` summed over every instance (this one flushed first), with ratios.

    When Redis cannot be read, this instance's own counts (`source: local`).
    """
    out: dict[str, Any]
    engine = self.engine
    analytics: dict[str, Any] | None = None
    if engine is not None and engine.breaker.closed:
        await engine.supervisor.flush_stats()
        await engine.supervisor.run_upkeep()
        try:
            raw = await engine.store.hgetall(keys.STATS_KEY)
            analytics = await read_raw(engine.store)
            out = render(raw)
            out["source"] = "redis"
        except Exception as exc:
            engine.meter.failed("get", keys.STATS_KEY, None, time.perf_counter(), exc)
            out = render_local(self.stats)
            out["source"] = "local"
    else:
        out = render_local(self.stats)
        out["source"] = "local"
    if engine is not None:
        add_analytics(
            out, analytics, engine.fill.ttl_ms, engine.options.ttls, engine.options.hot_sample
        )
        out["ttl"]["auto"] = engine.options.ttl_auto
    out["enabled"] = self.enabled
    out["circuit"] = self.breaker.state.value
    out["pendingInvalidations"] = self.pending_invalidations
    return out


async def dashboard(self: CacheRepository) -> dict[str, Any]:
    out: dict[str, Any] = {"stats": await cache_stats(self), "series": None, "instances": []}
    engine = self.engine
    if engine is None or out["stats"]["source"] != "redis":
        return out
    try:
        raw = await read_raw(engine.store, hot=0)
    except Exception as exc:
        engine.meter.failed("get", "dashboard", None, time.perf_counter(), exc)
        return out
    now = figures.now_s()
    out["series"] = figures.series(raw, list(engine.fill.ttl_ms), now)
    out["instances"] = figures.instances(raw, now)
    out["instance"] = engine.origin
    return out


async def health_check(self: CacheRepository) -> dict[str, Any]:
    """Connectivity and a write/read/delete round trip on a key unique to this probe.

    Runs even when the breaker is open (it is a probe). `status`: ok, down or disabled.
    """
    base: dict[str, Any] = {
        "circuit": self.breaker.state.value,
        "pendingInvalidations": self.pending_invalidations,
        "l1": {
            "enabled": self.l1 is not None,
            "live": self.l1.live if self.l1 is not None else False,
            "items": len(self.l1) if self.l1 is not None else 0,
        },
    }
    engine = self.engine
    if engine is None:
        return {"status": "disabled", "latencyMs": None, "error": None, **base}
    name = f"cache:health:{uuid.uuid4().hex}"
    token = uuid.uuid4().hex.encode()
    error: str | None = None
    written = False
    t0 = time.perf_counter()
    try:
        ok, got, removed, left = await engine.store.round_trip(name, token)
        written = True
        if not ok or got != token:
            error = "read back a different value than written"
        elif removed != 1 or left:
            error = "the probe key could not be deleted"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - t0
    if error and written:
        try:
            await engine.store.unlink(name)
        except Exception as exc:
            engine.meter.failed("delete", name, None, 0.0, exc)
    self.stats.ops["health_check"].observe(seconds)
    if error:
        engine.meter.log.failed("health_check", name, seconds, error)
    elif engine.meter.log.enabled:
        engine.meter.log.done("health_check", name, True, seconds)
    return {
        "status": "down" if error else "ok",
        "latencyMs": round(seconds * 1000, 3),
        "error": error,
        **base,
    }
