"""`GET /api/v1/ws/meetings/{meetingId}`: the signaling WebSocket (CONTRACT §6).

Every refusal of §6.1 is decided before the upgrade and answered as an HTTP response with
the standard error envelope (the per-IP rate limit's 429 comes from the rate limiter,
which also runs on handshakes). Only then is the socket accepted, announced, and served.
The query string (token, session id) is read here and never logged.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, WebSocket

from gomeet.config import Settings
from gomeet.db import database_unavailable
from gomeet.deps import UnitOfWorkRoute
from gomeet.errors import AppError, Forbidden, ServiceUnavailable, error_body
from gomeet.observability.logging import redact_path
from gomeet.responses import JsonResponse, deny_websocket
from gomeet.signaling.connection import Connection
from gomeet.signaling.hub import Hub
from gomeet.signaling.service import MeetingFull, identify, parse_meeting_id

log = structlog.get_logger("gomeet.signaling")
router = APIRouter(tags=["signaling"], route_class=UnitOfWorkRoute)

PRESENCE_WAIT_S = 2.0  # the first connection's participant row, before the socket opens
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class MeetingFullError(Forbidden):
    code = "MEETING_FULL"
    message = "This meeting has reached its participant limit"


class ForeignOrigin(Forbidden):
    message = "This origin may not open the signaling socket"


def _origin(value: str) -> str | None:
    """`scheme://host[:port]`, lower-case, without a default port; None if unparseable."""
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """No `Origin` (not a browser), the API's own origin, or one of `CORS_ORIGINS`."""
    raw = websocket.headers.get("origin")
    if raw is None:
        return True
    allowed = settings.allowed_origins
    if "*" in allowed:
        return True
    origin = _origin(raw)
    if origin is None:
        return False
    if origin in {_origin(o) for o in allowed}:
        return True
    host = websocket.headers.get("host")
    # Behind a TLS-terminating proxy the scheme the browser used may not reach us: the
    # API's own host is its own origin under either scheme.
    return bool(host) and origin in {_origin(f"http://{host}"), _origin(f"https://{host}")}


async def _refuse(websocket: WebSocket, error: AppError) -> None:
    log.info(
        "ws_refused",
        path=redact_path(websocket.url.path),
        status=error.status_code,
        code=error.code,
        client=websocket.client.host if websocket.client else None,
    )
    hub: Hub = websocket.app.state.signaling
    hub.stats.refused[error.code] = hub.stats.refused.get(error.code, 0) + 1
    response = JsonResponse(
        error_body(error.code, error.message, error.details),
        status_code=error.status_code,
        headers=error.headers,
    )
    await deny_websocket(websocket.scope, websocket.receive, websocket.send, response)


async def _admit(websocket: WebSocket, meeting_id: str, hub: Hub) -> Connection:
    """The checks of §6.1 in order: id, origin, meeting, identity, participant limit."""
    state = websocket.app.state
    canonical = parse_meeting_id(meeting_id)
    if not origin_allowed(websocket, state.settings):
        raise ForeignOrigin()
    params = websocket.query_params
    identity = await identify(state, canonical, params.get("token"), params.get("sessionId"))
    try:
        return await hub.admit(canonical, identity)
    except MeetingFull:
        raise MeetingFullError() from None


@router.websocket("/ws/meetings/{meeting_id}")
async def meeting_socket(websocket: WebSocket, meeting_id: str) -> None:
    hub: Hub = websocket.app.state.signaling
    try:
        conn = await _admit(websocket, meeting_id, hub)
    except AppError as exc:
        await _refuse(websocket, exc)
        return
    except Exception as exc:
        if database_unavailable(exc):
            log.error("ws_handshake_database_unavailable", error=type(exc).__name__)
            error: AppError = ServiceUnavailable("The database is unavailable, please retry")
        else:
            log.exception("ws_handshake_failed", error_type=type(exc).__name__)
            error = AppError("Internal server error", code="INTERNAL_ERROR", status_code=500)
        await _refuse(websocket, error)
        return
    try:
        if conn.presence_started is not None:
            await asyncio.wait({conn.presence_started}, timeout=PRESENCE_WAIT_S)
        await websocket.accept()
    except BaseException:
        hub.depart(conn)
        raise
    hub.activate(conn)
    await conn.serve(websocket, hub.handle_text, hub.depart)
