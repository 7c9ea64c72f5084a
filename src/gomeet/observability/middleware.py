"""The one pure-ASGI middleware that observes every HTTP request: a request id on every
response and every log record, one access-log record (method, path, route, status,
duration), and the HTTP metrics (`gomeet_http_requests_total`, `gomeet_http_request_seconds`),
from one timing and one route template per request."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gomeet.observability.logging import redact_path
from gomeet.observability.metrics import UNMATCHED_ROUTE, HttpMetrics
from gomeet.routes import route_templates

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")

access_log = structlog.get_logger("gomeet.access")


def route_template(
    scope: Scope, templates: dict[int, str] | None = None, root_path: str = ""
) -> str | None:
    """The matched route's own template with its parameters as names
    (`/api/v1/meetings/{meeting_id}`, converters left out), or None when no route matched.
    Never built from the path, so no value can end up in it. `templates` are the app's full
    templates by route (`routes.route_templates`: FastAPI may keep included routers nested,
    their routes relative); a mounted app (the docs assets) is `{mount}/{path}`, its mount
    being what routing added to the app's `root_path`, which labels leave out.
    """
    mount = str(scope.get("root_path", ""))[len(root_path) :]
    route, endpoint = scope.get("route"), scope.get("endpoint")
    if isinstance(route, Mount) or (route is None and mount and endpoint is not None):
        return f"{mount}/{{path}}"
    known = templates or {}
    if route is None:
        return known.get(id(endpoint)) if endpoint is not None else None
    template = known.get(id(route), getattr(route, "path_format", None))
    return f"{mount}{template}" if isinstance(template, str) else None


class ObservabilityMiddleware:
    """Outermost: it times everything, the rate limiter's 429 answers included."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[int, str] | None = None

    def _templates_of(self, scope: Scope) -> dict[int, str]:
        if self._templates is None:  # the routes are complete once requests arrive
            self._templates = route_templates(scope["app"])
        return self._templates

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
        root_path = scope.get("root_path", "")
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
                route = route_template(scope, self._templates_of(scope), root_path)
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
