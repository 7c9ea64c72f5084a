"""Real servers for the whole suite.

Redis: `TEST_REDIS_URL`, or a private embedded redis-server. PostgreSQL: a fresh database on
the server of `TEST_DATABASE_URL`, or a private pgserver instance. SQLite: a file per
session. Database-backed tests run once per backend (the `database_url` parameter). Every
test starts from empty tables (feature flags re-seeded) and an empty Redis database.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, insert
from sqlalchemy.engine import make_url

from gomeet.app import create_app
from gomeet.config import Settings
from gomeet.db import create_engine, utcnow
from gomeet.embedded import EmbeddedRedis
from gomeet.feature_flags.models import KNOWN_FLAG_DEFAULTS
from gomeet.migrate import upgrade
from gomeet.models import Base, FeatureFlag

TEST_JWT_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis() as server:
        yield server.url


async def _admin_execute(url: str, sql: str) -> None:
    import asyncpg

    u = make_url(url).set(drivername="postgresql")
    conn = await asyncpg.connect(u.render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        # A private database on the given server, so that concurrent runs never collide.
        name = f"gomeet_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin_execute(base, f'CREATE DATABASE "{name}"'))
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        yield url
        asyncio.run(_admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="gomeet-pg-") as data_dir:
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        try:
            socket_dir = make_url(server.get_uri()).query["host"]
            yield f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'gomeet.db'}"


_migrated: set[str] = set()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database-backed test runs on SQLite and on PostgreSQL, migrated once."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    if url not in _migrated:
        upgrade(url)
        _migrated.add(url)
    return url


async def reset_database(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(delete(table))
            await conn.execute(
                insert(FeatureFlag),
                [
                    {"name": name, "enabled": enabled, "updated_at": utcnow()}
                    for name, enabled in KNOWN_FLAG_DEFAULTS.items()
                ],
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def clean_redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def make_settings(database_url: str, redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test app; keyword arguments override any field."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "redis_url": redis_url,
            "var_dir": tmp_path / "var",
            "jwt_secret": TEST_JWT_SECRET,
            "rate_limit_enabled": False,
            "password_hash_time_cost": 1,
            "password_hash_memory_kib": 1024,
            "log_level": "WARNING",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
async def app_client(
    make_settings: Callable[..., Settings], clean_redis: Redis, database_url: str
) -> AsyncIterator[Callable[..., Any]]:
    """`async with app_client(**overrides) as client:` — a started app behind an httpx client."""
    await reset_database(database_url)
    import contextlib

    @contextlib.asynccontextmanager
    async def open_client(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(make_settings(**overrides))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    yield open_client


@pytest.fixture
async def client(app_client: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The app with test settings, started, behind an httpx client."""
    async with app_client() as c:
        yield c
