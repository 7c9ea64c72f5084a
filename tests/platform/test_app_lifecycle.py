"""An app that was started, served and closed leaves nothing of itself alive.

Whoever creates apps in one process (a test suite, a reloader, an embedding) must get their
memory back. FastAPI keeps up to 4,096 endpoint and dependency callables in module-level
caches; an endpoint that closed over its app kept the whole app (routes, schemas, engines,
the cache) alive with it: the suite's process grew to millions of objects and its garbage
collections held the interpreter for up to 8.5 s, longer than any Redis timeout.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from support.apps import app_settings, open_app

# Every page and kind of endpoint: the docs, the dashboard, the API, the probes.
PATHS = ["/docs", "/redoc", "/docs/oauth2-redirect", "/api/v1/admin/dashboard", "/api/health"]


async def test_a_closed_app_is_freed(database_url: str, redis_url: str, tmp_path: Path) -> None:
    async with open_app(app_settings(database_url, redis_url, tmp_path / "var")) as client:
        for path in PATHS:
            assert (await client.get(path)).status_code == 200, path
        assert (await client.get("/api/v1/meetings")).status_code == 401
        app = weakref.ref(client.app)  # type: ignore[attr-defined]
    del client

    gc.collect()

    assert app() is None, "the closed app is still referenced"
