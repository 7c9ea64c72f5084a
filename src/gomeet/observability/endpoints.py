"""GET /metrics: the Prometheus text format, at the root, never rate limited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gomeet.observability.metrics import CONTENT_TYPE, render
from gomeet.observability.workers import WorkerMetrics

router = APIRouter()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "the Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request) -> Response:
    """The whole server's figures when its workers exchange them (`gomeet serve`)."""
    workers: WorkerMetrics | None = getattr(request.app.state, "worker_metrics", None)
    body = await workers.render() if workers else render(request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE)
