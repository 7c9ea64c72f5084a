"""Test apps: settings for a test instance, a started app behind an httpx client, and the
in-process tier's readiness. Shared by the fixtures (tests/conftest.py) and the scripts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from gomeet.app import create_app
from gomeet.config import Settings

# Test apps and caches open their Redis pool on demand (`COLD_POOL`): opening the product's 64
# connections at every start made the suite ~30 % slower (tests/meetings side by side: 203 s
# with, 152 s without). The tests of bursts on freshly started instances, and of the warm-up
# itself, pass `WARM_POOL`: the product's default.
COLD_POOL: dict[str, Any] = {"redis_warm_connections": 0}
WARM_POOL: dict[str, Any] = {
    "redis_warm_connections": Settings.model_fields["redis_warm_connections"].default
}

TEST_JWT_SECRET = "test-secret-" + "x" * 40
NEVER_REFUSING_LIMITS: dict[str, Any] = {  # the rate limiter runs (its Redis calls) but admits all
    "rate_limit_enabled": True,
    "rate_limit_general_requests": 10**6,
    "rate_limit_auth_requests": 10**6,
    "rate_limit_authenticated_requests": 10**6,
}


def app_settings(database_url: str, redis_url: str, var_dir: Path, /, **overrides: Any) -> Settings:
    """Settings for a test app (cheap password hashing, no rate limits, warnings only, the
    Redis pool opened on demand); keyword arguments override any field."""
    values: dict[str, Any] = {
        **COLD_POOL,
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "var_dir": var_dir,
        "jwt_secret": TEST_JWT_SECRET,
        "rate_limit_enabled": False,
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 1024,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def open_app(settings: Settings, root_path: str = "") -> AsyncIterator[httpx.AsyncClient]:
    """An app with its lifespan running, behind an httpx client (`client.app` is the app);
    `root_path` serves it as behind a proxy under that prefix (`uvicorn --root-path`)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, root_path=root_path)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def l1_report(client: httpx.AsyncClient) -> dict[str, Any]:
    """The in-process tier's part of the app's cache health check."""
    report: dict[str, Any] = (await client.app.state.cache.health_check())["l1"]  # type: ignore[attr-defined]
    return report


async def l1_live(client: httpx.AsyncClient) -> bool:
    """True once the tier serves reads (its invalidation subscription is up)."""
    return bool((await l1_report(client))["live"])
