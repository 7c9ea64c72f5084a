"""With the database (and Redis) unreachable, `/feature-flags/config` serves the defaults."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from gomeet.app import create_app
from gomeet.auth.deps import get_current_user
from gomeet.auth.schemas import Principal
from gomeet.cache import CacheRepository
from gomeet.config import Settings
from gomeet.db import UnitOfWork, create_engine, make_sessionmaker
from gomeet.feature_flags.models import KNOWN_FLAG_DEFAULTS
from gomeet.feature_flags.service import FeatureFlagService

DEAD_DATABASES = [
    "postgresql+asyncpg://postgres@127.0.0.1:1/none",
    "sqlite+aiosqlite:////nonexistent-dir/gomeet.db",
]
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.mark.parametrize("database_url", DEAD_DATABASES)
async def test_service_serves_defaults_when_the_database_fails(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            uow = UnitOfWork(session)
            service = FeatureFlagService(uow=uow, cache=CacheRepository())
            assert await service.config() == KNOWN_FLAG_DEFAULTS
            await uow.commit()  # the request still ends cleanly
    finally:
        await engine.dispose()


async def test_config_endpoint_answers_200_with_defaults_when_database_and_redis_are_down(
    tmp_path: Path,
) -> None:
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=DEAD_DATABASES[0],
        redis_url=DEAD_REDIS,
        var_dir=tmp_path,
        jwt_secret="test-secret-" + "x" * 40,
        rate_limit_enabled=False,
        log_level="ERROR",
    )
    app = create_app(settings)
    # Who the caller is cannot be checked with both stores down (the profile lives in
    # them); the caller is taken as signed in so that the flags' own fallback is exercised.
    app.dependency_overrides[get_current_user] = lambda: Principal(
        id=uuid.uuid4(),
        username="someone",
        email="someone@example.com",
        avatar_url=None,
        role="user",
        token_version=0,
        created_at="2024-01-01T00:00:00Z",
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/api/v1/feature-flags/config")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": KNOWN_FLAG_DEFAULTS,
        "message": "OK",
    }
