"""`/feature-flags`: read by any signed-in user, written by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from gomeet.auth.deps import AdminUser, CurrentUser, SignedIn
from gomeet.deps import CacheDep, UnitOfWorkDep
from gomeet.feature_flags.schemas import FlagSetRequest
from gomeet.feature_flags.service import FeatureFlagService
from gomeet.responses import JsonResponse, ok

router = APIRouter(tags=["feature-flags"])


def get_feature_flag_service(uow: UnitOfWorkDep, cache: CacheDep) -> FeatureFlagService:
    return FeatureFlagService(uow=uow, cache=cache)


Service = Annotated[FeatureFlagService, Depends(get_feature_flag_service)]
BatchBody = Annotated[list[FlagSetRequest], Body(min_length=1, max_length=100)]


@router.get("/config", dependencies=[SignedIn])
async def flag_config(service: Service) -> JsonResponse:
    return ok(await service.config())


@router.get("/all")
async def all_flags(_: CurrentUser, service: Service) -> JsonResponse:
    return ok(await service.all())


@router.post("/set")
async def set_flag(body: FlagSetRequest, admin: AdminUser, service: Service) -> JsonResponse:
    data = await service.set(body, admin.id)
    return ok(data, "Feature flag updated")


@router.post("/batch-set")
async def batch_set_flags(body: BatchBody, admin: AdminUser, service: Service) -> JsonResponse:
    data = await service.batch_set(body, admin.id)
    return ok(data, "Feature flags updated")


@router.get("/{flag_name}")
async def get_flag(flag_name: str, _: CurrentUser, service: Service) -> JsonResponse:
    return ok(await service.get(flag_name))
