"""The success envelope and an orjson response class used by every endpoint."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def ok(data: Any = None, message: str = "OK", status_code: int = 200) -> JsonResponse:
    """`{"success": true, "data": …, "message": …}`; `data` must already be JSON-ready."""
    return JsonResponse(
        {"success": True, "data": data, "message": message}, status_code=status_code
    )
