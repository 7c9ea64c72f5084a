"""`/docs` (Swagger UI) and `/redoc` (ReDoc), served entirely by the app (CONTRACT §3).

The JavaScript and CSS ship inside the `fastapi-offline` package and are served from
`/docs/assets`; ReDoc is told not to load Google Fonts. The pages carry a Content Security
Policy that lets the browser fetch from this origin only (plus `data:` and `blob:`), so
nothing external is loaded even where a bundle names a URL of its own (ReDoc's side menu
links to a logo on Redocly's CDN; blocked, it falls back to the text).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/assets"
FAVICON_URL = f"{ASSETS_URL}/favicon.png"
DOCS_URL, REDOC_URL, OAUTH2_REDIRECT_URL = "/docs", "/redoc", "/docs/oauth2-redirect"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",  # the pages' inline set-up
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'self'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)


def _page(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


# Module-level endpoints that find their app on the request: FastAPI keeps endpoint callables
# in module-level caches, so one that closed over its app would keep every app ever created
# in the process alive (tests/platform/test_app_lifecycle.py).


async def swagger_ui(request: Request) -> HTMLResponse:
    app, root = request.app, request.scope.get("root_path", "")
    return _page(
        get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{FAVICON_URL}",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            # No call to the online validator (swagger.io) for a badge.
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )
    )


async def swagger_ui_redirect() -> HTMLResponse:
    return _page(get_swagger_ui_oauth2_redirect_html())


async def redoc(request: Request) -> HTMLResponse:
    app, root = request.app, request.scope.get("root_path", "")
    return _page(
        get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{FAVICON_URL}",
            with_google_fonts=False,
        )
    )


def install_docs(app: FastAPI) -> None:
    """Serve the assets and both pages (create the app with `docs_url=None, redoc_url=None`)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    for path, endpoint in (
        (DOCS_URL, swagger_ui),
        (OAUTH2_REDIRECT_URL, swagger_ui_redirect),
        (REDOC_URL, redoc),
    ):
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
