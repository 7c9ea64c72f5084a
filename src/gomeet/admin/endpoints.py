"""`/admin/cache`: operator endpoints, administrators only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from gomeet.admin.schemas import (
    CacheHealthOut,
    CacheStatsOut,
    FlushReportOut,
    TtlRecordOut,
    TtlRequest,
    WarmReportOut,
    WarmRequest,
)
from gomeet.admin.service import (
    CacheAdminService,
    InvalidCacheFamily,
    TtlOutsideBounds,
    parse_family,
    parse_one_family,
)
from gomeet.admin.warm import CacheUnavailable
from gomeet.auth.deps import AdminUser
from gomeet.deps import CacheDep, SettingsDep, UnitOfWorkDep, UnitOfWorkRoute
from gomeet.openapi import Envelope, raises
from gomeet.responses import JsonResponse, ok

router = APIRouter(tags=["admin"], route_class=UnitOfWorkRoute)

FamilyQuery = Annotated[
    str | None, Query(max_length=64, description="one cache family; absent: every family")
]


@router.get("/cache/stats", response_model=Envelope[CacheStatsOut])
async def cache_stats(_: AdminUser, cache: CacheDep) -> JsonResponse:
    return ok(await CacheAdminService(cache).stats(), "Cache statistics retrieved")


@router.get("/cache/health", response_model=Envelope[CacheHealthOut])
async def cache_health(_: AdminUser, cache: CacheDep) -> JsonResponse:
    report = await CacheAdminService(cache).health()
    return ok(report, "Cache is healthy" if report["status"] == "ok" else "Cache is unhealthy")


@router.post("/cache/warm", response_model=Envelope[WarmReportOut])
@raises(CacheUnavailable)
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


@router.delete("/cache", response_model=Envelope[FlushReportOut])
@raises(InvalidCacheFamily)
async def flush_cache(
    admin: AdminUser, cache: CacheDep, family: FamilyQuery = None
) -> JsonResponse:
    report = await CacheAdminService(cache).flush(parse_family(family), by=admin.id)
    message = "Cache flushed" if report["applied"] else "Redis unreachable: flush kept for replay"
    return ok(report, message)


FamilyPath = Annotated[str, Path(max_length=64, description="a cache family")]


@router.post("/cache/ttl/{family}", response_model=Envelope[TtlRecordOut])
@raises(InvalidCacheFamily, TtlOutsideBounds, CacheUnavailable)
async def apply_ttl(
    admin: AdminUser, cache: CacheDep, family: FamilyPath, body: TtlRequest | None = None
) -> JsonResponse:
    seconds = (body or TtlRequest()).seconds
    record = await CacheAdminService(cache).apply_ttl(parse_one_family(family), seconds, admin.id)
    return ok(record, "TTL applied on every instance")


@router.delete("/cache/ttl/{family}", response_model=Envelope[TtlRecordOut])
@raises(InvalidCacheFamily, CacheUnavailable)
async def revert_ttl(admin: AdminUser, cache: CacheDep, family: FamilyPath) -> JsonResponse:
    record = await CacheAdminService(cache).revert_ttl(parse_one_family(family), admin.id)
    return ok(record, "TTL reverted to the configured value on every instance")
