"""The transactional outbox: a write's change records, applied after its commit, drained by
every instance when the writer could not apply them.

- The unit of work writes the records in the write's own transaction (`db.OutboxRecord`).
- After the commit, the writing instance maps them to keys from committed rows
  (`footprint.py`) and invalidates them before the response is sent; the record is
  deleted just after, in batches (a record applied twice is harmless).
- If that fails (Redis unreachable or its breaker open, the database gone for the mapping)
  the record stays, handed over (due at once for every instance's drain), and this instance
  owes it: its breaker stays open until the drain has applied it.
- Every instance drains records older than `grace` (`gomeet.cache.drain`): left by an
  instance that crashed, was killed, stopped while Redis was unreachable, or cannot reach
  Redis while others can. On PostgreSQL with `FOR UPDATE SKIP LOCKED`, so instances share
  the work; on SQLite two drainers may both apply a record, which is harmless. What a drain
  applied is deleted as the writer's records are, just after and in batches, never on the
  drain's path (on SQLite a delete waits for the write lock).
- A commit whose outcome is unknown (cancelled or cut mid-commit) is applied as if it had
  committed.
- Records older than any cached value could live are useless (everything filled before
  the write has expired): a cache-less deployment prunes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gomeet.cache import CacheRepository
from gomeet.changes import Change, FlagChanged, decode
from gomeet.consistency.footprint import beyond_direct, direct, footprint
from gomeet.db import OutboxRecord, UnitOfWork
from gomeet.feature_flags.service import FeatureFlagService, FlagNotFound

log = structlog.get_logger("gomeet.outbox")

Observer = Callable[[list[Change]], None]
# Marks the drain's statements (a request's own SQL can be told from background work).
BACKGROUND = {"gomeet_background": "outbox_drain"}
# Reads after the commit need no transaction of their own (each query sees what was
# committed before it): no BEGIN and ROLLBACK round trips.
READ_ONLY = {"isolation_level": "AUTOCOMMIT"}


@dataclass
class Claimed:
    ids: list[int]
    gone: set[int]
    names: list[str]
    indexes: list[str]


class Outbox:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        cache: CacheRepository,
        *,
        grace: float = 0.5,
        interval: float = 0.2,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.cache = cache
        self.grace = grace
        self.observers: list[Observer] = []  # told of every change applied here
        self.drain = cache.attach_outbox(self, interval)
        self._done: set[int] = set()
        self._deleting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------- the writer's path

    async def apply(self, record_id: int, changes: list[Change]) -> None:
        """Invalidate what the committed `changes` make stale (before the response)."""
        self._notify(changes)
        if not self.cache.enabled:
            return  # nothing cached here; other instances drain the record
        try:
            async with self.sessionmaker() as session:
                await session.connection(execution_options=READ_ONLY)
                names, indexes = (await footprint(session, changes)).sorted()
        except Exception as exc:  # the database failed right after the commit
            log.warning("outbox_mapping_failed", record=record_id, error=repr(exc))
            names, indexes = direct(changes).sorted()
            await self.cache.invalidate_durable(names, indexes)
            # What only the rows could name: the whole families, before the response (the
            # other instances would serve them stale until the drain maps the record).
            for family in sorted(beyond_direct(changes)):
                try:
                    await self.cache.flush(family)
                except Exception as flush_exc:  # a pattern that fails is kept and replayed
                    log.warning("outbox_flush_failed", family=family, error=repr(flush_exc))
            await self._owe(record_id)
            return
        if await self.cache.invalidate_durable(names, indexes):
            self._mark_done(record_id)
            await self._write_through(changes)
        else:
            await self._owe(record_id)

    async def _write_through(self, changes: list[Change]) -> None:
        """Feature flags are filled again at once (the spec: "updates cache when flags are
        changed"), through the read path: under a lease, so a concurrent write wins."""
        flags = sorted({c.name for c in changes if isinstance(c, FlagChanged)})
        if not flags:
            return
        try:
            async with self.sessionmaker() as session:
                service = FeatureFlagService(uow=UnitOfWork(session), cache=self.cache)
                for name in flags:
                    with contextlib.suppress(FlagNotFound):
                        await service.get(name)
        except Exception as exc:  # an optimisation: the next read fills it
            log.warning("flag_write_through_failed", error=repr(exc))

    def apply_later(self, record_id: int, changes: list[Change]) -> None:
        task = asyncio.get_running_loop().create_task(self.apply(record_id, changes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _owe(self, record_id: int) -> None:
        """Not delivered: this instance owes the record (its breaker stays open until it is
        applied), and it is handed over at once: due now for every instance's drain, not
        after the grace (which is for writers that died before they could tell)."""
        if self.drain is not None:
            self.drain.owe([record_id])
        try:
            async with self.sessionmaker() as session, session.begin():
                await session.execute(
                    update(OutboxRecord).where(OutboxRecord.id == record_id).values(created_at=0.0)
                )
        except Exception as exc:  # the grace hands it over anyway
            log.warning("outbox_handover_failed", record=record_id, error=repr(exc))

    def _notify(self, changes: list[Change]) -> None:
        for observer in self.observers:
            try:
                observer(changes)
            except Exception as exc:
                log.warning("outbox_observer_failed", error=repr(exc))

    def _mark_done(self, record_id: int) -> None:
        """The record is applied: deleted soon, off the response's path, in batches (if
        the instance dies first, a drain applies it once more, which is harmless)."""
        self._done.add(record_id)
        if self._deleting is None or self._deleting.done():
            self._deleting = asyncio.get_running_loop().create_task(self._delete_done())

    async def _delete_done(self) -> None:
        await asyncio.sleep(0.01)  # gather the records applied meanwhile
        while self._done:
            ids = set(self._done)  # kept in `_done` until deleted: the drain skips them
            try:
                async with self.sessionmaker() as session, session.begin():
                    connection = await session.connection(execution_options=BACKGROUND)
                    if connection.dialect.name == "postgresql":  # losing it costs a re-apply
                        await session.execute(text("SET LOCAL synchronous_commit = off"))
                    await session.execute(delete(OutboxRecord).where(OutboxRecord.id.in_(ids)))
            except Exception as exc:  # left for the drain, which applies them once more
                log.warning("outbox_delete_failed", records=len(ids), error=repr(exc))
                return
            finally:
                self._done -= ids

    async def aclose(self) -> None:
        """Finish the background work (at shutdown, before the cache closes)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._deleting is not None:
            await asyncio.wait([self._deleting], timeout=2.0)

    # --------------------------------------------------- the drain (DurableQueue)

    @contextlib.asynccontextmanager
    async def claim(self, own: Collection[int], limit: int) -> AsyncIterator[Claimed]:
        """Records due (older than the grace, or owed by this instance), locked and mapped
        to keys; marked done when the block exits without an error. Deleting them is left
        to `_mark_done`, off the drain's path: on SQLite the delete waits for the write lock,
        and a drain waiting there applied nothing else meanwhile."""
        cutoff = time.time() - self.grace
        due = OutboxRecord.created_at < cutoff
        wanted = or_(due, OutboxRecord.id.in_(own)) if own else due
        if self._done:  # applied here, their deletion still to come: not again
            wanted = wanted & OutboxRecord.id.not_in(self._done)
        async with self.sessionmaker() as session, session.begin():
            await session.connection(execution_options=BACKGROUND)
            stmt = (
                select(OutboxRecord)
                .where(wanted)
                .order_by(OutboxRecord.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            records = list(await session.scalars(stmt))
            ids = [r.id for r in records]
            gone: set[int] = set()
            if own:
                present = await session.scalars(
                    select(OutboxRecord.id).where(OutboxRecord.id.in_(own))
                )
                gone = set(own) - set(present)
            changes = [c for r in records for c in decode(r.changes)]
            names, indexes = (await footprint(session, changes)).sorted() if changes else ([], [])
            yield Claimed(ids, gone, names, indexes)
        for record_id in ids:
            self._mark_done(record_id)
        if ids:
            self._notify(changes)

    async def backlog(self) -> int:
        """Records not yet applied (for operators)."""
        async with self.sessionmaker() as session:
            return len(list(await session.scalars(select(OutboxRecord.id).limit(10_000))))

    async def prune(self, older_than: float) -> int:
        """Delete records older than `older_than` seconds: nothing filled before them can
        still be cached. For deployments where no instance drains (cache off)."""
        async with self.sessionmaker() as session, session.begin():
            result: Any = await session.execute(
                delete(OutboxRecord).where(OutboxRecord.created_at < time.time() - older_than)
            )
            return int(result.rowcount or 0)

    async def prune_forever(self, older_than: float, every: float = 60.0) -> None:
        """`prune` every `every` seconds (run while no cache drains this database)."""
        while True:
            try:
                await self.prune(older_than)
            except Exception as exc:
                log.warning("outbox_prune_failed", error=repr(exc))
            await asyncio.sleep(every)
