"""The success envelope and an orjson response class used by every endpoint."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send


class JsonResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def ok(data: Any = None, message: str = "OK", status_code: int = 200) -> JsonResponse:
    """`{"success": true, "data": …, "message": …}`; `data` must already be JSON-ready."""
    return JsonResponse(
        {"success": True, "data": data, "message": message}, status_code=status_code
    )


DENIAL_EXTENSION = "websocket.http.response"


async def deny_websocket(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    """Refuse a WebSocket handshake with `response` (status, headers, body) before the
    upgrade, through the ASGI denial-response extension; a server without it can only
    send a bare 403 (the `websocket.close` before `accept`)."""
    if DENIAL_EXTENSION in scope.get("extensions", {}):
        await response(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": 1008})
