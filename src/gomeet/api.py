"""Combines the domain routers: `/api/v1/...`, plus `/api/health` and `/metrics` at the root."""

from __future__ import annotations

from fastapi import APIRouter

root_router = APIRouter()
api_router = APIRouter()
