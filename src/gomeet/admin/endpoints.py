"""`/admin/cache`: operator endpoints, administrators only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gomeet.admin.schemas import WarmRequest
from gomeet.admin.service import CacheAdminService, parse_family
from gomeet.auth.deps import AdminUser
from gomeet.deps import CacheDep, SettingsDep, UnitOfWorkDep
from gomeet.responses import JsonResponse, ok

router = APIRouter(tags=["admin"])

FamilyQuery = Annotated[
    str | None, Query(max_length=64, description="one cache family; absent: every family")
]


@router.get("/cache/stats")
async def cache_stats(_: AdminUser, cache: CacheDep) -> JsonResponse:
    return ok(await CacheAdminService(cache).stats(), "Cache statistics retrieved")


@router.get("/cache/health")
async def cache_health(_: AdminUser, cache: CacheDep) -> JsonResponse:
    report = await CacheAdminService(cache).health()
    return ok(report, "Cache is healthy" if report["status"] == "ok" else "Cache is unhealthy")


@router.post("/cache/warm")
async def warm_cache(
    admin: AdminUser,
    uow: UnitOfWorkDep,
    cache: CacheDep,
    settings: SettingsDep,
    body: WarmRequest | None = None,
) -> JsonResponse:
    limits = (body or WarmRequest()).limits()
    report = await CacheAdminService(cache).warm(uow, settings, limits, by=admin.id)
    return ok(report, "Cache warmed")


@router.delete("/cache")
async def flush_cache(
    admin: AdminUser, cache: CacheDep, family: FamilyQuery = None
) -> JsonResponse:
    report = await CacheAdminService(cache).flush(parse_family(family), by=admin.id)
    message = "Cache flushed" if report["applied"] else "Redis unreachable: flush kept for replay"
    return ok(report, message)
