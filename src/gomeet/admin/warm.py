"""Cache warming: pre-populate what is read most, through the domain services' own read
paths, so that warming uses the one fill path (leases, TTLs, stats) and stores exactly the
JSON a request would. It reads as the system (no caller to authorize: nothing is returned
to anyone), as the services' fills do for any caller.

What is warmed, in this order, each bounded: the hottest keys of the analytics' hot-key
record (it survives restarts: it is in Redis), each mapped back to the service read that
fills it (`keys.parse`); every feature flag; for the most recently active users (by latest
sign-in) their profile, upcoming meetings, first page of hosted and of joined meetings,
with the endpoints' default page sizes; for the meetings in progress their details and
participant lists, and the guests present in them. A key already cached is read, not
reloaded. Reads are paced to at most `rate` per second, so that warming never floods the
database, and may be given a time budget: what is left when it runs out is not read, and
the report says so (`complete`, `remaining`). The HTTP endpoint warms within
`REQUEST_BUDGET_S`, so that no request hangs on a slow rate; the CLI and the start-up
warm have no budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gomeet.admin.repository import WarmRepository
from gomeet.auth.service import AuthService
from gomeet.cache import CacheKey, CacheRepository, Family, keys
from gomeet.cache.fill import JSON, Loader
from gomeet.config import Settings
from gomeet.db import UnitOfWork
from gomeet.errors import AppError, NotFound, ValidationFailed
from gomeet.feature_flags.service import FeatureFlagService
from gomeet.meetings.service import MeetingService
from gomeet.public_users.service import PublicUserService

log = structlog.get_logger("gomeet.cache.warm")

# The endpoints' default page sizes (meetings/endpoints.py): warmed keys are the ones that
# a client asking for the defaults reads.
LIST_PAGE_LIMIT = 10
UPCOMING_LIMIT = 5
MAX_FLAGS = 1000
MAX_TARGETS = 1000  # the most users or meetings one warming may ask for
DEFAULT_USERS = 100
DEFAULT_MEETINGS = 100
DEFAULT_HOT = 200  # hottest keys warmed first (when asked for)
DEFAULT_RATE = 200.0  # reads per second at most
REQUEST_BUDGET_S = 5.0  # the longest a warming asked for over HTTP runs

Progress = Callable[[int, int], None]  # (done, total)
Job = Callable[[], Awaitable[object]]


class CacheUnavailable(AppError):
    status_code = 503
    code = "CACHE_UNAVAILABLE"
    message = "Redis is unreachable: there is no cache to warm"


@dataclass(frozen=True, slots=True)
class WarmLimits:
    users: int = DEFAULT_USERS
    meetings: int = DEFAULT_MEETINGS
    hot: int = 0  # hottest keys to warm first
    rate: float = DEFAULT_RATE
    budget_s: float | None = None  # none: read everything planned


class _Tally:
    """The cache as the services see it while warming (duck-typed: they only read through
    it): counts, per family, the keys read through and the ones this warming filled from
    the database. Everything else is the real cache's."""

    def __init__(self, cache: CacheRepository) -> None:
        self._cache = cache
        self.reads: Counter[str] = Counter()
        self.loads: Counter[str] = Counter()

    async def get_or_load(self, key: CacheKey, loader: Loader) -> JSON | None:
        self.reads[key.family.value] += 1

        async def counted() -> JSON | None:
            self.loads[key.family.value] += 1
            return await loader()

        return await self._cache.get_or_load(key, counted)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)

    def families(self) -> dict[str, dict[str, int]]:
        return {f: {"keys": n, "loaded": self.loads[f]} for f, n in sorted(self.reads.items())}


@contextlib.contextmanager
def _skip_vanished() -> Iterator[None]:
    """A row deleted (or a name refused) between listing and reading is skipped."""
    with contextlib.suppress(NotFound, ValidationFailed):
        yield


async def warm_cache(
    uow: UnitOfWork,
    cache: CacheRepository,
    settings: Settings,
    limits: WarmLimits,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Read the frequently accessed values through the services; what was warmed, per family.

    Nothing is read with the cache off; with Redis unreachable it raises CacheUnavailable
    rather than load from the database what could not be stored.
    """
    started = time.perf_counter()
    tally = _Tally(cache)
    counts = {"hotKeys": 0, "featureFlags": 0, "users": 0, "meetings": 0, "guests": 0}
    remaining = 0
    if cache.enabled:
        if (await cache.health_check())["status"] != "ok":
            raise CacheUnavailable()
        hot = await cache.hot_key_names(limits.hot) if limits.hot else []
        jobs = await _jobs(uow, cast(CacheRepository, tally), settings, limits, hot, counts)
        remaining = await _paced(jobs, limits, progress)
    families = tally.families()
    return {
        "enabled": cache.enabled,
        "complete": remaining == 0,
        "remaining": remaining,
        **counts,
        "keys": sum(f["keys"] for f in families.values()),
        "loaded": sum(f["loaded"] for f in families.values()),
        "families": families,
        "durationMs": round((time.perf_counter() - started) * 1000, 1),
    }


async def _paced(jobs: list[Job], limits: WarmLimits, progress: Progress | None) -> int:
    """Runs the jobs at most `limits.rate` a second; returns how many the budget left out."""
    start = time.monotonic()
    end = math.inf if limits.budget_s is None else start + limits.budget_s
    for done, job in enumerate(jobs, 1):
        with _skip_vanished():
            await job()
        if progress is not None:
            progress(done, len(jobs))
        next_start = start + done / limits.rate
        if done < len(jobs) and max(next_start, time.monotonic()) >= end:
            return len(jobs) - done
        ahead = next_start - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)
    return 0


async def _jobs(
    uow: UnitOfWork,
    cache: CacheRepository,
    settings: Settings,
    limits: WarmLimits,
    hot: list[str],
    counts: dict[str, int],
) -> list[Job]:
    """The reads to make, hot keys first (the targets are listed now, read later)."""
    repo = WarmRepository(uow.session)
    flags = FeatureFlagService(uow=uow, cache=cache)
    auth = AuthService(uow, cache, settings)
    meetings = MeetingService(uow, cache)
    guests = PublicUserService(uow=uow, cache=cache)

    def counted(kind: str, read: Job) -> Job:
        async def job() -> None:
            await read()
            counts[kind] += 1

        return job

    def hot_read(parts: keys.KeyParts) -> Job:
        """The service read that fills a hot key (the key it reads is this one)."""
        family, page, limit = parts.family, parts.page or 1, parts.limit or LIST_PAGE_LIMIT
        if family is Family.FEATURE_FLAG:
            return partial(flags.get, parts.subject)
        if family is Family.PUBLIC_USER:
            return partial(guests.get, parts.subject)
        subject = uuid.UUID(parts.subject)
        reads: dict[Family, Job] = {
            Family.USER_PROFILE: partial(auth.cached_profile, subject),
            Family.MEETING_DETAILS: partial(meetings.public, subject),
            Family.PARTICIPANT_LIST: partial(meetings.public_participants, subject),
            Family.MEETING_LIST: partial(
                meetings.list_hosted, subject, page, limit, parts.search or ""
            ),
            Family.MEETING_JOINED: partial(meetings.joined, subject, page, limit),
            Family.MEETING_UPCOMING: partial(meetings.upcoming, subject, limit),
            Family.MEETING_PAST: partial(meetings.past, subject, page, limit),
        }
        return reads[family]

    jobs: list[Job] = []
    for name in hot:
        parts = keys.parse(name)
        if parts is not None:
            jobs.append(counted("hotKeys", hot_read(parts)))
    for name in await repo.flag_names(MAX_FLAGS):
        jobs.append(counted("featureFlags", partial(flags.get, name)))

    def user_reads(user_id: uuid.UUID) -> Job:
        async def read() -> None:
            if await auth.cached_profile(user_id) is None:
                raise NotFound()  # deleted meanwhile: skipped, not counted
            await meetings.upcoming(user_id, UPCOMING_LIMIT)
            await meetings.list_hosted(user_id, 1, LIST_PAGE_LIMIT, "")
            await meetings.joined(user_id, 1, LIST_PAGE_LIMIT)

        return read

    def meeting_reads(meeting_id: uuid.UUID) -> Job:
        async def read() -> None:
            await meetings.public(meeting_id)
            await meetings.public_participants(meeting_id)

        return read

    for user_id in await repo.recently_active_user_ids(limits.users):
        jobs.append(counted("users", user_reads(user_id)))
    for meeting_id in await repo.active_meeting_ids(limits.meetings):
        jobs.append(counted("meetings", meeting_reads(meeting_id)))
    for session_id in await repo.active_guest_session_ids(limits.users):
        jobs.append(counted("guests", partial(guests.get, session_id)))
    return jobs


async def warm_with(
    sessionmaker: async_sessionmaker[AsyncSession],
    cache: CacheRepository,
    settings: Settings,
    limits: WarmLimits,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """`warm_cache` in a read-only transaction of its own (startup job, CLI)."""
    async with sessionmaker() as session:
        uow = UnitOfWork(session)
        try:
            return await warm_cache(uow, cache, settings, limits, progress)
        finally:
            await uow.rollback()


@contextlib.asynccontextmanager
async def background_warm(
    sessionmaker: async_sessionmaker[AsyncSession], cache: CacheRepository, settings: Settings
) -> AsyncIterator[None]:
    """Warm once in the background while the app serves (`CACHE_WARM_ON_START`), the hot
    keys first; a warming still running at exit is cancelled."""

    async def run() -> None:
        try:
            report = await warm_with(sessionmaker, cache, settings, WarmLimits(hot=DEFAULT_HOT))
        except Exception as exc:  # warming is an optimisation: never fatal
            log.warning("cache_warm_failed", error=f"{type(exc).__name__}: {exc}")
            return
        report.pop("families")
        log.info("cache_warmed", **report)

    task = asyncio.get_running_loop().create_task(run(), name="gomeet-cache-warm")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
