"""The one pure-ASGI middleware that observes every HTTP request: a request id on every
response and every log record, one access-log record (method, path, route, status,
duration), and the HTTP metrics (`gomeet_http_requests_total`, `gomeet_http_request_seconds`),
from one timing and one route template per request."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gomeet.observability.logging import redact_path
from gomeet.observability.metrics import UNMATCHED_ROUTE, HttpMetrics

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")

access_log = structlog.get_logger("gomeet.access")


def route_template(scope: Scope) -> str | None:
    """The matched route with its parameters as names (`/api/v1/meetings/{meeting_id}`), or
    None when no route matched. Built from the path, as included routers keep relative paths.
    """
    if scope.get("route") is None:
        return None
    template: str = scope["path"]
    for name, value in scope.get("path_params", {}).items():
        if str(value):
            template = template.replace(f"/{value}", f"/{{{name}}}", 1)
    return template


class ObservabilityMiddleware:
    """Outermost: it times everything, the rate limiter's 429 answers included."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None
        )
        request_id = (
            incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        status = 500  # what the client gets if the app fails before starting a response
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = route_template(scope)
                # Requests no route handled (an unknown path, a 429 from the rate limiter,
                # which answers before routing) share one fixed metrics label.
                self.metrics.observe(scope["method"], route or UNMATCHED_ROUTE, status, elapsed)
                access_log.info(
                    "request",
                    method=scope["method"],
                    path=redact_path(scope["path"]),
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    client=scope["client"][0] if scope.get("client") else None,
                )
