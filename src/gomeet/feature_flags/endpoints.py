"""`/feature-flags`: read by any signed-in user, written by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from gomeet.auth.deps import AdminUser, CurrentUser, SignedIn
from gomeet.deps import CacheDep, UnitOfWorkDep, UnitOfWorkRoute
from gomeet.feature_flags.schemas import FeatureFlagOut, FlagBatchOut, FlagSetRequest
from gomeet.feature_flags.service import FeatureFlagService, FlagNotFound, InvalidFlagName
from gomeet.openapi import Envelope, raises
from gomeet.responses import JsonResponse, ok

router = APIRouter(tags=["feature-flags"], route_class=UnitOfWorkRoute)


async def get_feature_flag_service(uow: UnitOfWorkDep, cache: CacheDep) -> FeatureFlagService:
    return FeatureFlagService(uow=uow, cache=cache)


Service = Annotated[FeatureFlagService, Depends(get_feature_flag_service)]
BatchBody = Annotated[list[FlagSetRequest], Body(min_length=1, max_length=100)]


@router.get("/config", dependencies=[SignedIn], response_model=Envelope[dict[str, bool]])
async def flag_config(service: Service) -> JsonResponse:
    return ok(await service.config())


@router.get("/all", response_model=Envelope[dict[str, FeatureFlagOut]])
async def all_flags(_: CurrentUser, service: Service) -> JsonResponse:
    return ok(await service.all())


@router.post("/set", response_model=Envelope[FeatureFlagOut])
@raises(InvalidFlagName)
async def set_flag(body: FlagSetRequest, admin: AdminUser, service: Service) -> JsonResponse:
    data = await service.set(body, admin.id)
    return ok(data, "Feature flag updated")


@router.post("/batch-set", response_model=Envelope[FlagBatchOut])
async def batch_set_flags(body: BatchBody, admin: AdminUser, service: Service) -> JsonResponse:
    data = await service.batch_set(body, admin.id)
    return ok(data, "Feature flags updated")


@router.get("/{flag_name}", response_model=Envelope[FeatureFlagOut])
@raises(InvalidFlagName, FlagNotFound)
async def get_flag(flag_name: str, _: CurrentUser, service: Service) -> JsonResponse:
    return ok(await service.get(flag_name))
