"""The unit of work: after-commit actions (cache invalidations) survive a cancelled request."""

from __future__ import annotations

import asyncio

from gomeet.db import UnitOfWork, create_engine, make_sessionmaker


async def test_a_request_cancelled_after_its_commit_still_completes_its_invalidations(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    started, release, invalidated = asyncio.Event(), asyncio.Event(), asyncio.Event()
    ran_after_failure: list[str] = []

    async def failing() -> None:
        raise RuntimeError("Redis said no")  # logged, never raised

    async def invalidate() -> None:
        started.set()
        await release.wait()
        invalidated.set()

    async def also_invalidate() -> None:
        ran_after_failure.append("second")

    try:
        async with make_sessionmaker(engine)() as session:
            uow = UnitOfWork(session)
            for action in (failing, invalidate, also_invalidate):
                uow.after_commit(action)
            request = asyncio.create_task(uow.commit())
            await started.wait()  # committed; the invalidation is under way
            request.cancel()  # e.g. the client went away
            await asyncio.gather(request, return_exceptions=True)
            assert request.cancelled()
            release.set()
            # Not a timing assertion: a bound so that a regression fails instead of hanging.
            await asyncio.wait_for(invalidated.wait(), timeout=10)
            await asyncio.sleep(0)
            assert ran_after_failure == ["second"]
    finally:
        await engine.dispose()
