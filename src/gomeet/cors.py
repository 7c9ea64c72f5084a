"""CORS for browser clients served from other origins (CONTRACT §2, `CORS_ORIGINS`).

Starlette's `CORSMiddleware` does the work for allowed origins. It sits outside the rate
limiter, so a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is
answered before any rate-limit bucket, route or database is reached, and every response
the limiter or the routes produce for an allowed origin (401, 404, 429, 503 …) carries
`Access-Control-Allow-Origin`, so that the browser lets the client read the error.

This thin layer in front of it changes two things: a foreign origin gets no
`Access-Control-*` header at all (Starlette would still send `Access-Control-Expose-Headers`
on simple requests and the allowed methods on a refused preflight), and a refused preflight
gets the API's error envelope (403 `FORBIDDEN`) instead of plain text. WebSocket handshakes
pass through untouched: the signaling endpoint checks their `Origin` itself.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gomeet.errors import Forbidden, error_body
from gomeet.responses import JsonResponse

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = (
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
)
PREFLIGHT_MAX_AGE_S = 600


def _is_preflight(scope: Scope, headers: Headers) -> bool:
    return (
        scope["method"] == "OPTIONS"
        and "origin" in headers
        and "access-control-request-method" in headers
    )


def _vary_on_origin(send: Send) -> Send:
    """Responses differ by `Origin`: say so, so that a shared cache keeps them apart."""

    async def send_with_vary(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).add_vary_header("Origin")
        await send(message)

    return send_with_vary


class CorsMiddleware:
    """Pure ASGI, placed outside the rate limiter (see the module docstring)."""

    def __init__(self, app: ASGIApp, origins: Collection[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE_S,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if _is_preflight(scope, headers):
            await self._preflight(headers)(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is None:  # not a browser's cross-origin call: Starlette's would pass it on
            await self.app(scope, receive, send)
        elif self.cors.is_allowed_origin(origin):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, _vary_on_origin(send))

    def _preflight(self, headers: Headers) -> Response:
        """Starlette's answer when it allows the request; otherwise a 403 envelope that
        carries no `Access-Control-*` header (the browser then blocks the call)."""
        if self.cors.is_allowed_origin(headers["origin"]):
            answer = self.cors.preflight_response(request_headers=headers)
            if answer.status_code == 200:
                return answer
            reason = bytes(answer.body).decode()  # e.g. "Disallowed CORS method, headers"
        else:
            reason = "Disallowed CORS origin"
        error = Forbidden(f"{reason}: this cross-origin request is not allowed")
        response = JsonResponse(error_body(error.code, error.message), error.status_code)
        response.headers.add_vary_header("Origin")
        return response
