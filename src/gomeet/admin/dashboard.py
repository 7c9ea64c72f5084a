"""`/admin/dashboard`: the operator dashboard, a page served by the app with its own assets
(no CDN: the charts are hand-written SVG). The page loads for anyone and shows nothing
until an administrator signs in with the API's login; its data endpoint needs an admin
bearer token, which the page keeps in sessionStorage and sends as `Authorization`.

What it shows: live per-family hit ratios and load latency (charts), each instance's
errors and breaker state (the instances report to Redis in their upkeep loop), hot keys,
TTL advice with a button to apply or revert it (`/admin/cache/ttl/{family}`), the
consistency machinery's backlog (outbox records pending, invalidations pending), and the
signaling sockets: meetings live and open sockets, per instance.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from gomeet.auth.deps import AdminUser
from gomeet.deps import CacheDep, UnitOfWorkRoute
from gomeet.openapi import Envelope
from gomeet.responses import JsonResponse, ok
from gomeet.signaling.hub import Hub
from gomeet.signaling.overview import overview

router = APIRouter(tags=["admin"], route_class=UnitOfWorkRoute)

STATIC = files("gomeet.admin") / "static"
ASSETS: Final = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# Everything from this origin, nothing inline, nothing framed.
SECURITY: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@router.get("/dashboard", response_class=Response, include_in_schema=False)
async def dashboard_page() -> Response:
    """The dashboard page (HTML); it signs in and loads its data itself."""
    html = (STATIC / "dashboard.html").read_bytes()
    return Response(html, media_type="text/html; charset=utf-8", headers=SECURITY)


@router.get("/dashboard/assets/{name}", response_class=Response, include_in_schema=False)
async def dashboard_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404)
    return Response((STATIC / name).read_bytes(), media_type=media_type, headers=SECURITY)


@router.get("/dashboard/data", response_model=Envelope[dict[str, Any]])
async def dashboard_data(_: AdminUser, cache: CacheDep, request: Request) -> JsonResponse:
    """Stats with analytics, charts' series, instances, and the consistency backlog."""
    data: dict[str, Any] = await cache.get_dashboard()
    outbox = getattr(request.app.state, "outbox", None)
    backlog: int | None = None
    if outbox is not None:
        try:
            backlog = await outbox.backlog()
        except Exception:  # the database is down: the dashboard still shows the cache
            backlog = None
    data["backlog"] = {
        "outbox": backlog,
        "pendingInvalidations": cache.pending_invalidations,
        "byInstance": {i["id"]: i.get("pendingInvalidations") for i in data["instances"]},
    }
    hub: Hub | None = getattr(request.app.state, "signaling", None)
    data["signaling"] = await overview(hub) if hub is not None else None
    return ok(data, "Dashboard data")
