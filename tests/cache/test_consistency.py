"""Invalidation and stale-set protection.

Guarantees: a fill whose loader read the database before a write can never store what it
read once that write's invalidation ran (the invalidation deletes the fill's lease, and the
fill stores only while it holds its lease), on this instance or another; a reader arriving
after an invalidation never gets a load that started before it; a write-through `put`
cannot be overwritten by an older fill; all list pages of an owner are invalidated through
the owner's index, without scanning the keyspace, however many pages there are.
"""

from __future__ import annotations

import asyncio
import uuid

import orjson
from cache_helpers import Loader, MakeCache
from redis.asyncio import Redis

from gomeet.cache import Family, keys
from gomeet.cache.store import INVALIDATE_CHANNEL as CHANNEL


async def scan_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_scan", {}).get("calls", 0))


async def test_a_fill_racing_an_invalidation_does_not_store_its_stale_value(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    key = keys.meeting_details(uuid.uuid4())
    stale = Loader({"name": "before the write"})
    stale.gate = asyncio.Event()

    filling = asyncio.create_task(cache.get_or_load(key, stale))
    await stale.started.wait()  # the loader has read the database...
    await cache.invalidate(key)  # ...then a write commits and invalidates
    stale.gate.set()
    await filling

    assert await clean_redis.get(key.key) is None
    fresh = Loader({"name": "after the write"})
    assert await cache.get_or_load(key, fresh) == {"name": "after the write"}
    assert fresh.calls == 1


async def test_an_invalidation_from_another_instance_voids_the_fill(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    filler, writer = await make_cache(), await make_cache()
    key = keys.participant_list(uuid.uuid4())
    stale = Loader([{"name": "left already"}])
    stale.gate = asyncio.Event()

    filling = asyncio.create_task(filler.get_or_load(key, stale))
    await stale.started.wait()
    await writer.invalidate_meeting_related(uuid.UUID(key.key.rsplit(":", 1)[1]))
    stale.gate.set()
    await filling

    assert await clean_redis.get(key.key) is None
    assert await filler.get_or_load(key, Loader([])) == []


async def test_a_reader_after_the_invalidation_does_not_join_the_older_load(
    make_cache: MakeCache,
) -> None:
    cache = await make_cache()
    key = keys.user_profile(uuid.uuid4())
    stale = Loader({"username": "old"})
    stale.gate = asyncio.Event()

    first = asyncio.create_task(cache.get_or_load(key, stale))
    await stale.started.wait()
    await cache.invalidate(key)
    later = asyncio.create_task(cache.get_or_load(key, Loader({"username": "new"})))
    await asyncio.sleep(0.05)
    stale.gate.set()

    assert await later == {"username": "new"}
    await first


async def test_joiners_of_a_voided_load_reload(make_cache: MakeCache) -> None:
    cache = await make_cache()
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"v": "old"})
    loader.gate = asyncio.Event()

    readers = [asyncio.create_task(cache.get_or_load(key, loader)) for _ in range(20)]
    await loader.started.wait()
    await asyncio.sleep(0.05)  # the other readers found the lease and joined the load
    await cache.invalidate(key)
    loader.value = {"v": "new"}
    loader.gate.set()
    results = await asyncio.gather(*readers)

    # The leader may return what it read (its request began before the write); every
    # joiner was told the load was voided and read again.
    assert results.count({"v": "new"}) >= 19
    assert await cache.get_or_load(key, loader) == {"v": "new"}


async def test_put_wins_over_a_fill_in_flight(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()
    key = keys.feature_flag("use_livekit_sfu")
    stale = Loader({"enabled": False})
    stale.gate = asyncio.Event()

    filling = asyncio.create_task(cache.get_or_load(key, stale))
    await stale.started.wait()
    await cache.put(key, {"enabled": True})  # write-through after the commit
    stale.gate.set()
    await filling

    assert orjson.loads(await clean_redis.get(key.key) or b"") == {"enabled": True}
    assert await cache.get_or_load(key, Loader({"enabled": False})) == {"enabled": True}


async def test_owner_lists_are_invalidated_through_the_index_without_scan(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    host, other = uuid.uuid4(), uuid.uuid4()
    pages = [keys.meeting_list(host, page, 10, f"q{page % 7}") for page in range(1, 11)]
    pages += [keys.meeting_upcoming(host, limit) for limit in range(1, 21)]
    pages += [keys.meeting_past(host, page, 10) for page in range(1, 11)]
    theirs = [keys.meeting_list(other, 1, 10, None), keys.meeting_past(other, 1, 10)]
    for key in [*pages, *theirs]:
        await cache.get_or_load(key, Loader({"meetings": []}))
    assert await clean_redis.zcard(keys.index_key(Family.MEETING_LIST, host)) == 10
    scans = await scan_calls(clean_redis)

    await cache.invalidate_host_lists(host)

    assert await scan_calls(clean_redis) == scans
    assert await clean_redis.exists(*(k.key for k in pages)) == 0
    assert await clean_redis.exists(*(k.key for k in theirs)) == len(theirs)
    assert await clean_redis.exists(keys.index_key(Family.MEETING_LIST, host)) == 0


async def test_index_outlives_its_pages(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()
    user = uuid.uuid4()
    key = keys.meeting_joined(user, 1, 10)
    await cache.get_or_load(key, Loader({"meetings": []}))

    assert await clean_redis.pttl(key.index or "") > await clean_redis.pttl(key.key)


async def test_a_page_filling_during_an_owner_invalidation_is_not_stored(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    user = uuid.uuid4()
    key = keys.meeting_joined(user, 3, 10)
    stale = Loader({"meetings": ["left meeting"]})
    stale.gate = asyncio.Event()

    filling = asyncio.create_task(cache.get_or_load(key, stale))
    await stale.started.wait()
    await cache.invalidate_joined_lists(user)
    stale.gate.set()
    await filling

    assert await clean_redis.get(key.key) is None


async def test_user_related_invalidation_covers_profile_and_every_owned_list(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    user = uuid.uuid4()
    owned = [
        keys.user_profile(user),
        keys.meeting_list(user, 1, 10, None),
        keys.meeting_upcoming(user, 5),
        keys.meeting_past(user, 1, 10),
        keys.meeting_joined(user, 1, 10),
    ]
    for key in owned:
        await cache.get_or_load(key, Loader({"v": 1}))

    await cache.invalidate_user_related(user)

    assert await clean_redis.exists(*(k.key for k in owned)) == 0


async def test_one_write_invalidates_everything_it_shows_in_one_batch(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    """A meeting write with 50 participants: details, participant list, the host's lists and
    every participant's joined pages go at once, announced to other instances in one message."""
    cache = await make_cache()
    meeting, host = uuid.uuid4(), uuid.uuid4()
    users = [uuid.uuid4() for _ in range(50)]
    shown = [
        keys.meeting_details(meeting),
        keys.participant_list(meeting),
        keys.meeting_list(host, 1, 10, None),
        keys.meeting_upcoming(host, 10),
        *(keys.meeting_joined(user, 1, 10) for user in users),
    ]
    loaders = {key.key: Loader({"v": 1}) for key in shown}
    for key in shown:
        await cache.get_or_load(key, loaders[key.key])
    pubsub = clean_redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    await pubsub.get_message(timeout=1.0)  # the subscription confirmation

    await cache.invalidate_many(
        [keys.meeting_details(meeting), keys.participant_list(meeting)],
        [
            *((family, host) for family in keys.HOST_LIST_FAMILIES),
            *((Family.MEETING_JOINED, user) for user in users),
        ],
    )

    for key in shown:
        await cache.get_or_load(key, loaders[key.key])
    assert all(loader.calls == 2 for loader in loaders.values())
    first = await pubsub.get_message(timeout=1.0)
    assert first is not None and first["type"] == "message"
    assert await pubsub.get_message(timeout=0.2) is None
    await pubsub.aclose()
