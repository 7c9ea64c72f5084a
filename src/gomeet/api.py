"""Combines the domain routers: `/api/v1/...`, plus `/api/health` and `/metrics` at the root."""

from __future__ import annotations

from fastapi import APIRouter

from gomeet.admin.endpoints import router as admin_router
from gomeet.auth.endpoints import router as auth_router
from gomeet.feature_flags.endpoints import router as feature_flags_router
from gomeet.health import router as health_router
from gomeet.meetings.endpoints import router as meetings_router
from gomeet.observability.endpoints import router as metrics_router
from gomeet.public_users.endpoints import router as public_users_router

root_router = APIRouter()
root_router.include_router(health_router)
root_router.include_router(metrics_router)
api_router = APIRouter()
api_router.include_router(auth_router, prefix="/auth", tags=["auth"])
api_router.include_router(meetings_router, prefix="/meetings", tags=["meetings"])
api_router.include_router(public_users_router, prefix="/public-users")
api_router.include_router(feature_flags_router, prefix="/feature-flags")
api_router.include_router(admin_router, prefix="/admin")
