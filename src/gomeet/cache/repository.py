"""CacheRepository: the spec's cache API and the one read-through fill path.

PROVISIONAL: a pass-through placeholder so the services can be written against the final
interface; the cache-layer work replaces the internals and keeps these signatures.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from gomeet.cache import keys
from gomeet.cache.families import CacheKey, Family

JSON = Any
Loader = Callable[[], Awaitable[JSON | None]]


class CacheRepository:
    async def get_or_load(self, key: CacheKey, loader: Loader) -> JSON | None:
        """The value under `key`, or `loader()`'s result, stored for the family's TTL.

        `loader` returns JSON-ready data (what the endpoint sends) or None for "absent".
        """
        return await loader()

    async def put(self, key: CacheKey, value: JSON) -> None:
        """Write-through after a committed change (feature flags)."""

    async def invalidate(self, *cache_keys: CacheKey) -> None:
        """Delete these keys now and void any fill in flight for them."""

    async def invalidate_owner_lists(self, family: Family, owner_id: uuid.UUID) -> None:
        """Delete every list page of one owner in one family (no keyspace scan)."""

    async def invalidate_host_lists(self, host_id: uuid.UUID) -> None:
        for family in keys.HOST_LIST_FAMILIES:
            await self.invalidate_owner_lists(family, host_id)

    async def invalidate_joined_lists(self, user_id: uuid.UUID) -> None:
        await self.invalidate_owner_lists(Family.MEETING_JOINED, user_id)

    async def invalidate_meeting_related(self, meeting_id: uuid.UUID) -> None:
        await self.invalidate(keys.meeting_details(meeting_id), keys.participant_list(meeting_id))

    async def invalidate_user_related(self, user_id: uuid.UUID) -> None:
        await self.invalidate(keys.user_profile(user_id))
        await self.invalidate_host_lists(user_id)
        await self.invalidate_joined_lists(user_id)
