"""Pure ASGI middleware that records every HTTP request in `HttpMetrics`."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gomeet.observability.metrics import UNMATCHED_ROUTE, HttpMetrics
from gomeet.observability.middleware import route_template


def route_label(scope: Scope) -> str:
    """The route template of a request; a fixed label for requests no route handled (an
    unknown path, or a 429 from the rate limiter, which answers before routing)."""
    return route_template(scope) or UNMATCHED_ROUTE


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app fails before starting a response
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_label(scope), status, elapsed)
