"""The app's routes as served, prefixes included, whatever FastAPI's version: FastAPI ≥ 0.160
keeps included routers nested and walks them with `iter_route_contexts`; older ones list
them flat. Used by the OpenAPI document and by the metrics' route labels."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import fastapi.routing
from starlette.types import ASGIApp


def served_routes(app: ASGIApp) -> Iterator[Any]:
    """Each route with its full `path_format`; `original_route` (or the route itself) is the
    object routing puts in `scope["route"]`."""
    routes: Iterable[Any] = getattr(app, "routes", ())
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    yield from iterate(routes) if iterate else routes


def original(route: Any) -> Any:
    """The route object routing matches and puts in `scope["route"]`."""
    return getattr(route, "original_route", route)


def route_templates(app: ASGIApp) -> dict[int, str]:
    """Full path templates (`/api/v1/meetings/{meeting_id}`) by `id()` of the matched route,
    and by `id()` of the endpoint for a plain Starlette route (`/openapi.json`), which routing
    records only as `scope["endpoint"]`."""
    templates: dict[int, str] = {}
    for route in served_routes(app):
        path_format = getattr(route, "path_format", None)
        if isinstance(path_format, str):
            templates.setdefault(id(original(route)), path_format)
            if endpoint := getattr(route, "endpoint", None):
                templates.setdefault(id(endpoint), path_format)
    return templates
