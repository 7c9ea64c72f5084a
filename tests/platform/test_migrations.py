"""The Alembic migrations on a fresh SQLite file and a fresh PostgreSQL database: 0003 adds
the meetings' description and duration to existing rows and goes back down cleanly, and the
migrated schema is exactly what the models declare."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Boolean, Integer, Uuid, column, insert, inspect, table, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from gomeet.db import UTCDateTime, create_engine
from gomeet.migrate import alembic_config, upgrade
from gomeet.models import Base


async def _autocommit(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend, migrated by nothing yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    server: str = request.getfixturevalue("postgresql_url")
    name = f"gomeet_migrations_{uuid.uuid4().hex[:12]}"
    asyncio.run(_autocommit(server, f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_autocommit(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _run(url: str, work: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _meeting_columns(conn: Connection) -> set[str]:
    return {column["name"] for column in inspect(conn).get_columns("meetings")}


def _insert_meeting(conn: Connection, **extra: Any) -> uuid.UUID:
    """A user and a meeting, written with only the columns that every revision has."""
    user_id, meeting_id = uuid.uuid4(), uuid.uuid4()
    now = datetime(2030, 1, 1, 10, tzinfo=UTC)
    users = table(
        "users",
        *(column(name) for name in ("username", "email", "password_hash", "role")),
        column("id", Uuid()),
        column("token_version", Integer()),
        column("created_at", UTCDateTime()),
        column("updated_at", UTCDateTime()),
    )
    conn.execute(
        insert(users).values(
            id=user_id,
            username="ada",
            email=f"{user_id}@example.com",
            password_hash="x",
            role="user",
            token_version=0,
            created_at=now,
            updated_at=now,
        )
    )
    meetings = table(
        "meetings",
        column("id", Uuid()),
        column("host_id", Uuid()),
        column("name"),
        column("is_active", Boolean()),
        *(column(name, UTCDateTime()) for name in ("start_time", "created_at", "updated_at")),
        *(column(name) for name in extra),
    )
    conn.execute(
        insert(meetings).values(
            id=meeting_id,
            host_id=user_id,
            name="Old",
            is_active=False,
            start_time=now,
            created_at=now,
            updated_at=now,
            **extra,
        )
    )
    return meeting_id


def test_0003_adds_description_and_duration_and_goes_back_down(fresh_database: str) -> None:
    url = fresh_database
    upgrade(url, "0002")
    old = asyncio.run(_run(url, _insert_meeting))
    assert {"description", "duration"}.isdisjoint(asyncio.run(_run(url, _meeting_columns)))

    upgrade(url)
    assert {"description", "duration"} <= asyncio.run(_run(url, _meeting_columns))

    def read(conn: Connection) -> list[tuple[Any, ...]]:
        new = _insert_meeting(conn, description="Agenda", duration=1440)
        rows = conn.execute(text("SELECT id, name, description, duration FROM meetings"))
        by_id = {str(r[0]).replace("-", ""): tuple(r[1:]) for r in rows}
        return [by_id[old.hex], by_id[new.hex]]

    assert asyncio.run(_run(url, read)) == [("Old", None, None), ("Old", "Agenda", 1440)]

    command.downgrade(alembic_config(url), "0002")
    assert {"description", "duration"}.isdisjoint(asyncio.run(_run(url, _meeting_columns)))
    count = text("SELECT count(*) FROM meetings")
    assert asyncio.run(_run(url, lambda conn: conn.execute(count).scalar())) == 2


def test_the_migrated_schema_matches_the_models(fresh_database: str) -> None:
    upgrade(fresh_database)

    def differences(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    assert asyncio.run(_run(fresh_database, differences)) == []
