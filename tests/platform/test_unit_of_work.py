"""The unit of work: change records go to the outbox in the write's own transaction and are
applied after the commit, even when the request is cancelled during or after the commit."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import event, func, select

from gomeet.changes import Change, MeetingChanged, UserChanged
from gomeet.db import OutboxRecord, UnitOfWork, create_engine, make_sessionmaker


class RecordingSink:
    """A change sink that records what it is handed (the real one is gomeet.consistency)."""

    def __init__(self) -> None:
        self.applied: list[tuple[int, list[Change]]] = []
        self.later: list[tuple[int, list[Change]]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def apply(self, record_id: int, changes: list[Change]) -> None:
        self.started.set()
        await self.release.wait()
        self.applied.append((record_id, changes))

    def apply_later(self, record_id: int, changes: list[Change]) -> None:
        self.later.append((record_id, changes))


async def outbox_rows(sessionmaker: Any) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxRecord)) or 0)


async def test_changes_are_written_in_the_transaction_and_applied_after_the_commit(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    sink = RecordingSink()
    change = MeetingChanged(uuid.uuid4())
    try:
        before = await outbox_rows(sessionmaker)
        async with sessionmaker() as session:
            uow = UnitOfWork(session, sink)
            uow.record(change)
            await uow.commit()
        assert [changes for _, changes in sink.applied] == [[change]]
        record_id = sink.applied[0][0]
        async with sessionmaker() as session:
            record = await session.get(OutboxRecord, record_id)
            assert record is not None and str(change.meeting_id) in record.changes
        assert await outbox_rows(sessionmaker) == before + 1  # the sink deletes it, not this
    finally:
        await engine.dispose()


async def test_a_rollback_writes_and_applies_nothing(database_url: str) -> None:
    engine = create_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    sink = RecordingSink()
    try:
        before = await outbox_rows(sessionmaker)
        async with sessionmaker() as session:
            uow = UnitOfWork(session, sink)
            uow.record(UserChanged(uuid.uuid4()))
            await uow.rollback()
            await uow.commit()  # nothing left to commit
        assert sink.applied == [] and sink.later == []
        assert await outbox_rows(sessionmaker) == before
    finally:
        await engine.dispose()


async def test_a_request_cancelled_after_its_commit_still_applies_its_changes(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    sink = RecordingSink()
    sink.release.clear()
    try:
        async with make_sessionmaker(engine)() as session:
            uow = UnitOfWork(session, sink)
            uow.record(UserChanged(uuid.uuid4()))
            request = asyncio.create_task(uow.commit())
            await sink.started.wait()  # committed; the invalidation is under way
            request.cancel()  # e.g. the client went away
            await asyncio.gather(request, return_exceptions=True)
            assert request.cancelled()
            sink.release.set()
            for _ in range(100):
                if sink.applied:
                    break
                await asyncio.sleep(0.01)
            assert len(sink.applied) == 1
    finally:
        await engine.dispose()


async def test_a_commit_cancelled_midway_is_applied_as_if_it_had_committed(
    database_url: str,
) -> None:
    """The outcome of a commit interrupted in flight is unknown (SQLite commits in its
    thread even when the awaiting task is cancelled): its changes are applied anyway."""
    engine = create_engine(database_url)
    sink = RecordingSink()
    change = UserChanged(uuid.uuid4())

    try:
        async with make_sessionmaker(engine)() as session:
            uow = UnitOfWork(session, sink)
            uow.record(change)
            request = asyncio.current_task()
            assert request is not None
            loop = asyncio.get_running_loop()

            def cancel_on_commit(_conn: Any) -> None:
                loop.call_soon_threadsafe(committing.cancel)

            event.listen(engine.sync_engine, "commit", cancel_on_commit)
            committing = asyncio.create_task(uow.commit())
            await asyncio.gather(committing, return_exceptions=True)
            event.remove(engine.sync_engine, "commit", cancel_on_commit)
        assert [changes for _, changes in sink.later + sink.applied] == [[change]]
    finally:
        await engine.dispose()
