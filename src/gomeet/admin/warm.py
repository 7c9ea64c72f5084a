"""Cache warming: pre-populate what is read most, through the domain services' own read
paths, so that warming uses the one fill path (leases, TTLs, stats) and stores exactly the
JSON a request would.

What is warmed, each bounded: every feature flag; for the most recently active users (by
latest sign-in) their profile, upcoming meetings, first page of hosted and of joined
meetings, with the endpoints' default page sizes; for the meetings in progress their
details and participant lists, and the guests present in them. A key already cached is
read, not reloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, cast

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gomeet.admin.repository import WarmRepository
from gomeet.auth.service import AuthService
from gomeet.cache import CacheKey, CacheRepository
from gomeet.cache.core import JSON, Loader
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


class CacheUnavailable(AppError):
    status_code = 503
    code = "CACHE_UNAVAILABLE"
    message = "Redis is unreachable: there is no cache to warm"


@dataclass(frozen=True, slots=True)
class WarmLimits:
    users: int = DEFAULT_USERS
    meetings: int = DEFAULT_MEETINGS


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
    uow: UnitOfWork, cache: CacheRepository, settings: Settings, limits: WarmLimits
) -> dict[str, Any]:
    """Read the frequently accessed values through the services; what was warmed, per family.

    Nothing is read with the cache off; with Redis unreachable it raises CacheUnavailable
    rather than load from the database what could not be stored.
    """
    started = time.perf_counter()
    tally = _Tally(cache)
    counts = {"featureFlags": 0, "users": 0, "meetings": 0, "guests": 0}
    if cache.enabled:
        if (await cache.health_check())["status"] != "ok":
            raise CacheUnavailable()
        await _warm(uow, cast(CacheRepository, tally), settings, limits, counts)
    families = tally.families()
    return {
        "enabled": cache.enabled,
        **counts,
        "keys": sum(f["keys"] for f in families.values()),
        "loaded": sum(f["loaded"] for f in families.values()),
        "families": families,
        "durationMs": round((time.perf_counter() - started) * 1000, 1),
    }


async def _warm(
    uow: UnitOfWork,
    cache: CacheRepository,
    settings: Settings,
    limits: WarmLimits,
    counts: dict[str, int],
) -> None:
    repo = WarmRepository(uow.session)
    flags = FeatureFlagService(uow=uow, cache=cache)
    auth = AuthService(uow, cache, settings)
    meetings = MeetingService(uow, cache)
    guests = PublicUserService(uow=uow, cache=cache)
    for name in await repo.flag_names(MAX_FLAGS):
        with _skip_vanished():
            await flags.get(name)
            counts["featureFlags"] += 1
    for user_id in await repo.recently_active_user_ids(limits.users):
        if await auth.cached_profile(user_id) is None:
            continue  # deleted meanwhile
        await meetings.upcoming(user_id, UPCOMING_LIMIT)
        await meetings.list_hosted(user_id, 1, LIST_PAGE_LIMIT, "")
        await meetings.joined(user_id, 1, LIST_PAGE_LIMIT)
        counts["users"] += 1
    for meeting_id in await repo.active_meeting_ids(limits.meetings):
        with _skip_vanished():
            await meetings.public(meeting_id)
            await meetings.public_participants(meeting_id)
            counts["meetings"] += 1
    for session_id in await repo.active_guest_session_ids(limits.users):
        with _skip_vanished():
            await guests.get(session_id)
            counts["guests"] += 1


async def warm_with(
    sessionmaker: async_sessionmaker[AsyncSession],
    cache: CacheRepository,
    settings: Settings,
    limits: WarmLimits,
) -> dict[str, Any]:
    """`warm_cache` in a read-only transaction of its own (startup job, CLI)."""
    async with sessionmaker() as session:
        uow = UnitOfWork(session)
        try:
            return await warm_cache(uow, cache, settings, limits)
        finally:
            await uow.rollback()


@contextlib.asynccontextmanager
async def background_warm(
    sessionmaker: async_sessionmaker[AsyncSession], cache: CacheRepository, settings: Settings
) -> AsyncIterator[None]:
    """Warm once in the background while the app serves (`CACHE_WARM_ON_START`); a warming
    still running at exit is cancelled."""

    async def run() -> None:
        try:
            report = await warm_with(sessionmaker, cache, settings, WarmLimits())
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
