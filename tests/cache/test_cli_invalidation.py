"""Operator commands invalidate through the cache layer, so running servers notice at once.

Guarantee: after `gomeet users promote`, an instance that holds the user's profile in its
in-process tier reloads it on the next read (the invalidation is published), instead of
serving the old role for up to GOMEET_CACHE_L1_TTL.
"""

from __future__ import annotations

import uuid

from cache_helpers import Loader, MakeCache, cache_settings, eventually, l1_live

from gomeet.auth.commands import _invalidate_profile
from gomeet.cache import keys


async def test_promote_reaches_a_running_instances_in_process_tier(
    make_cache: MakeCache, redis_url: str
) -> None:
    server = await make_cache(gomeet_cache_l1=True, gomeet_cache_l1_ttl=600)
    assert await eventually(lambda: l1_live(server))
    user_id = uuid.uuid4()
    key = keys.user_profile(user_id)
    db = {"role": "user"}
    loader = Loader()

    async def load() -> object:
        await loader()
        return dict(db)

    assert await server.get_or_load(key, load) == {"role": "user"}
    db["role"] = "admin"  # what `promote` commits

    message = await _invalidate_profile(cache_settings(redis_url), user_id)

    assert message == "Cached profile invalidated."

    async def sees_admin() -> bool:
        return await server.get_or_load(key, load) == {"role": "admin"}

    assert await eventually(sees_admin)
