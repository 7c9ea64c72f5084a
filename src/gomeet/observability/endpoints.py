"""GET /metrics: the Prometheus text format, at the root, never rate limited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gomeet.observability.metrics import CONTENT_TYPE, render

router = APIRouter()


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(render(request.app.state.metrics_registry), media_type=CONTENT_TYPE)
