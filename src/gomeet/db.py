"""Engine, declarative Base, and the unit of work that commits at the edge of a request.

Services `flush()` and `record()` what they changed (`gomeet.changes`); the unit of work
writes those records to the outbox table in the same transaction, commits, and then hands
them to the change sink (the app's `gomeet.consistency.Outbox`), which invalidates the
cached values they make stale before the response is sent. A rollback drops them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    MetaData,
    Text,
    Uuid,
    event,
    func,
    literal_column,
    select,
)
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
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from gomeet.changes import Change, encode
from gomeet.text import fold

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


# SQLSTATEs the server answers while it cannot serve, which the driver reports as a plain
# error (SQLAlchemy wraps them as a bare DBAPIError): a connection exception (class 08),
# operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03 "the database
# system is starting up / shutting down", …: a restart) and too many connections.
UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")


def database_unavailable(exc: BaseException) -> bool:
    """True for an error that says the database cannot be reached (not a bad statement)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(UNAVAILABLE_SQLSTATES):
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
            # SQLite's lower() folds ASCII only; fold as the search terms are (`text.fold`).
            dbapi_conn.create_function("lower", 1, _fold_case, deterministic=True)

        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _fold_case(value: object) -> object:
    return fold(value) if isinstance(value, str) else value


def folded(
    session: AsyncSession, text: ColumnElement[str] | InstrumentedAttribute[str]
) -> ColumnElement[str]:
    """`text` case-folded as `gomeet.text.search_term` folds a search, so that the query
    compares like with like: `lower`, re-composed to NFC (SQLite's `lower` is `text.fold`)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.normalize(func.lower(text), literal_column("NFC"))
    return func.lower(text)


def dialect_insert(session: AsyncSession, model: type[Any]) -> Any:
    """`INSERT` with `ON CONFLICT` support: PostgreSQL and SQLite share the API."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


class OutboxRecord(Base):
    """The changes of one committed write whose invalidations may not have been applied
    yet (the transactional outbox). Deleted once applied; `created_at` is epoch seconds."""

    __tablename__ = "cache_outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[float] = mapped_column(Float)
    changes: Mapped[str] = mapped_column(Text)


async def outbox_record_pending(session: AsyncSession, record_id: int) -> bool:
    """True while the record has not been applied (and deleted) by some instance."""
    stmt = select(OutboxRecord.id).where(OutboxRecord.id == record_id)
    return (await session.scalar(stmt)) is not None


class ChangeSink(Protocol):
    """Where a unit of work hands its committed changes (`gomeet.consistency.Outbox`)."""

    async def apply(self, record_id: int, changes: list[Change]) -> None:
        """Invalidate what they make stale, now (the write's response waits for it)."""

    def apply_later(self, record_id: int, changes: list[Change]) -> None:
        """The same in the background: the commit's outcome is unknown (it was cancelled
        or lost its connection mid-commit), so it is treated as committed."""


class UnitOfWork:
    """One database transaction, plus the changes it made, applied once it has committed.

    Given a `sessionmaker` instead of a session, it opens its session when something first
    asks for it (a query, a flush), so that a request answered from the cache never makes
    one; `close()` closes it if it was opened.
    """

    def __init__(
        self,
        session: AsyncSession | None = None,
        changes: ChangeSink | None = None,
        *,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        if (session is None) == (sessionmaker is None):
            raise TypeError("UnitOfWork needs a session or a sessionmaker")
        self._session = session
        self._sessionmaker = sessionmaker
        self._sink = changes
        self._changes: list[Change] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            assert self._sessionmaker is not None
            self._session = self._sessionmaker()
        return self._session

    @property
    def opened(self) -> bool:
        """True once the session exists (it may still hold no connection)."""
        return self._session is not None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def record(self, *changes: Change) -> None:
        """What this transaction changed; the cache follows once it has committed."""
        self._changes.extend(changes)

    async def commit(self) -> int | None:
        """Write the changes to the outbox, commit, then apply them (shielded: a request
        cancelled once its transaction has committed still completes them). Returns the
        outbox record's id (None when nothing changed).

        Without a sink (a one-shot command) the record is left for the servers: due at once
        for their drains, which apply it within a poll.
        """
        changes, self._changes = self._changes, []
        if not changes:
            if self._session is not None:
                await self._session.commit()
            return None
        created = time.time() if self._sink is not None else 0.0
        record = OutboxRecord(created_at=created, changes=encode(changes))
        self.session.add(record)
        await self.session.flush()
        record_id = record.id
        try:
            await self.session.commit()
        except BaseException:
            if self._sink is not None:  # it may have committed: over-invalidating is safe
                self._sink.apply_later(record_id, changes)
            raise
        if self._sink is not None:
            task = asyncio.create_task(self._sink.apply(record_id, changes))
            _running.add(task)  # a strong reference while it outlives a cancelled request
            task.add_done_callback(_running.discard)
            await asyncio.shield(task)
        return record_id

    async def rollback(self) -> None:
        self._changes.clear()
        if self._session is not None:
            await self._session.rollback()


_running: set[asyncio.Task[None]] = set()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
