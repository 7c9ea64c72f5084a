"""The probes. GET /api/health (readiness): the database and the cache, each checked for
real with a short timeout. GET /api/health/live (liveness): the process serves requests.

/api/health answers 200 while the database answers (`ok`, or `degraded` when the cache does
not); 503 with status `down` when the database does not. Load balancers read `data.status`,
which both answers carry; the 503 is also a regular error envelope (`SERVICE_UNAVAILABLE`).
/api/health/live checks nothing else, so that an orchestrator restarts a process that has
stopped serving, never every process during a database or Redis outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Request
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gomeet.cache import CacheRepository
from gomeet.errors import error_body
from gomeet.openapi import Envelope, ErrorEnvelope
from gomeet.responses import JsonResponse, ok
from gomeet.schemas import CamelModel

log = structlog.get_logger("gomeet.health")
router = APIRouter()

DATABASE_TIMEOUT_S = 2.0
CACHE_TIMEOUT_S = 1.0

Component = dict[str, Any]


class ComponentOut(CamelModel):
    status: Literal["up", "down"]
    latency_ms: float | None
    error: str | None = None  # the exception type or a short reason, never an address


class CacheComponentOut(ComponentOut):
    circuit: str | None = None
    enabled: bool | None = None  # false with GOMEET_CACHE=off (then a PING of Redis)


class HealthOut(CamelModel):
    status: Literal["ok", "degraded", "down"]
    database: ComponentOut
    cache: CacheComponentOut


class HealthDownOut(ErrorEnvelope):
    """The 503: an error envelope that also carries the report."""

    data: HealthOut


class LivenessOut(CamelModel):
    status: Literal["ok"]


async def _probe(check: Callable[[], Awaitable[object]], timeout_s: float) -> Component:
    """`{status: up|down, latencyMs}` (+ `error`, the exception type only: never a URL)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            await check()
    except Exception as exc:
        latency = round((time.perf_counter() - started) * 1000, 2)
        error = "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return {"status": "down", "latencyMs": latency, "error": error}
    return {"status": "up", "latencyMs": round((time.perf_counter() - started) * 1000, 2)}


async def database_health(engine: AsyncEngine) -> Component:
    async def select_one() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return await _probe(select_one, DATABASE_TIMEOUT_S)


async def cache_health(request: Request) -> Component:
    """The cache layer's health check: one pipelined write/read/delete round trip.

    With the cache off (`GOMEET_CACHE=off`) Redis still serves the rate limiter: PING it.
    `error` is the exception type or a short reason, never an address.
    """
    cache: CacheRepository = request.app.state.cache
    if not cache.enabled:
        redis: Redis = request.app.state.redis
        return {**await _probe(redis.ping, CACHE_TIMEOUT_S), "enabled": False}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CACHE_TIMEOUT_S):
            report = await cache.health_check()
    except TimeoutError:
        latency = round((time.perf_counter() - started) * 1000, 2)
        return {"status": "down", "latencyMs": latency, "error": "Timeout"}
    component: Component = {
        "status": "up" if report["status"] == "ok" else "down",
        "latencyMs": report["latencyMs"],
        "circuit": report["circuit"],
    }
    if report["error"]:
        component["error"] = str(report["error"]).split(":", 1)[0]
    return component


@router.get(
    "/api/health/live",
    summary="Liveness: the process serves requests",
    response_model=Envelope[LivenessOut],
)
async def live() -> JsonResponse:
    """200 whatever the database and Redis say; never rate limited."""
    return ok({"status": "ok"}, message="alive")


@router.get(
    "/api/health",
    summary="Readiness: the database and the cache",
    response_model=Envelope[HealthOut],
    responses={503: {"model": HealthDownOut, "description": "the database does not answer"}},
)
async def health(request: Request) -> JsonResponse:
    database, cache = await asyncio.gather(
        database_health(request.app.state.engine), cache_health(request)
    )
    if database["status"] != "up":
        status = "down"
    elif cache["status"] != "up":
        status = "degraded"
    else:
        status = "ok"
    report = {"status": status, "database": database, "cache": cache}
    if status != "ok":
        log.warning("health_check", **report)
    if status == "down":
        body = error_body("SERVICE_UNAVAILABLE", "The database is unavailable", report)
        return JsonResponse({**body, "data": report}, status_code=503)
    return ok(report, message="healthy" if status == "ok" else "degraded")
