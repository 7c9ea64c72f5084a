"""Engine, declarative Base, and the unit of work that commits at the edge of a request.

Services `flush()`; the request's unit of work commits, then runs the actions registered
with `after_commit` (cache invalidations). On an error it rolls back and drops them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import DateTime, MetaData, Uuid, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

log = structlog.get_logger("gomeet.db")

# What a down, unreachable or overloaded database raises: the driver's connection errors as
# SQLAlchemy wraps them, asyncpg's refused connection (a bare OSError), a timed-out connect,
# and a full pool (SQLAlchemy's own TimeoutError).
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    OSError,
    TimeoutError,
)


def database_unavailable(exc: BaseException) -> bool:
    """True for an error that says the database cannot be reached (not a bad statement)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, DATABASE_UNAVAILABLE_ERRORS)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every backend (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, uuid.UUID: Uuid}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # SQLite's lower() folds ASCII only; fold like PostgreSQL (and the cache keys) do.
            dbapi_conn.create_function("lower", 1, _fold_case, deterministic=True)

        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _fold_case(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def dialect_insert(session: AsyncSession, model: type[Any]) -> Any:
    """`INSERT` with `ON CONFLICT` support: PostgreSQL and SQLite share the API."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    """One database transaction per request, plus the actions to run once it has committed."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, action: AfterCommit) -> None:
        self._after_commit.append(action)

    async def commit(self) -> None:
        """Commit, then run the after-commit actions shielded: a request cancelled once its
        transaction has committed still completes its invalidations (no stale cache)."""
        await self.session.commit()
        actions, self._after_commit = self._after_commit, []
        if actions:
            task = asyncio.create_task(_run_after_commit(actions))
            _running.add(task)  # a strong reference while it outlives a cancelled request
            task.add_done_callback(_running.discard)
            await asyncio.shield(task)

    async def rollback(self) -> None:
        self._after_commit.clear()
        await self.session.rollback()


_running: set[asyncio.Task[None]] = set()


async def _run_after_commit(actions: list[AfterCommit]) -> None:
    for action in actions:
        try:
            await action()
        except Exception as exc:  # an after-commit action never fails the request
            log.warning("after_commit_failed", error=repr(exc))


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
