"""The read-through fill path, as seen from Redis and from a caller.

Guarantees: a miss calls the loader once and later reads are hits; a hit returns exactly
the JSON a miss returned; the stored value is plain JSON readable with `redis-cli GET`
(large values compressed behind the documented `~zlib:` marker); every family's TTL lies
within [0.9, 1] of its nominal value and `CACHE_TTL_<FAMILY>` overrides it; an absent
result (loader returned None) is cached briefly and invalidated like any other value.
"""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from cache_helpers import Loader, MakeCache
from redis.asyncio import Redis

from gomeet.cache import MISSING, CacheOptions, keys
from gomeet.cache.stats import ERRORS, HITS


async def test_a_hit_returns_exactly_the_json_a_miss_returned(make_cache: MakeCache) -> None:
    cache = await make_cache()
    key = keys.participant_list(uuid.uuid4())
    # Not JSON-native on purpose: a tuple and a non-ASCII string.
    loader = Loader([{"name": "Zoë", "tags": ("a", "b"), "n": 1.5, "ok": None}])

    missed = await cache.get_or_load(key, loader)
    hit = await cache.get_or_load(key, loader)

    assert loader.calls == 1
    assert missed == hit == [{"name": "Zoë", "tags": ["a", "b"], "n": 1.5, "ok": None}]
    assert orjson.dumps(missed) == orjson.dumps(hit)


async def test_cache_ttl_env_var_overrides_a_family(
    make_cache: MakeCache, clean_redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_TTL_MEETING_DETAILS", "40")
    cache = await make_cache()
    details = keys.meeting_details(uuid.uuid4())
    profile = keys.user_profile(uuid.uuid4())

    await cache.get_or_load(details, Loader({"v": 1}))
    await cache.get_or_load(profile, Loader({"v": 1}))

    assert 36_000 - 1000 <= await clean_redis.pttl(details.key) <= 40_000
    assert await clean_redis.pttl(profile.key) > 40_000  # other families keep theirs


async def test_an_absent_result_is_cached_briefly_and_invalidated_like_a_value(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache(options=CacheOptions(negative_ttl=20))
    key = keys.public_user("no-such-session")
    absent = Loader(None)

    assert await cache.get_or_load(key, absent) is None
    assert await cache.get_or_load(key, absent) is None
    assert absent.calls == 1
    assert 0 < await clean_redis.pttl(key.key) <= 20_000

    await cache.invalidate(key)  # e.g. the session was just created
    created = Loader({"id": "p1", "name": "Guest"})
    assert await cache.get_or_load(key, created) == {"id": "p1", "name": "Guest"}
    assert created.calls == 1


async def test_large_values_are_compressed_and_read_back_transparently(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache(options=CacheOptions(compress_min_bytes=1024))
    key = keys.meeting_list(uuid.uuid4(), 1, 100, None)
    meetings = [{"id": str(i), "name": "Weekly planning " * 4} for i in range(100)]
    loader = Loader({"meetings": meetings})

    await cache.get_or_load(key, loader)
    raw = await clean_redis.get(key.key)
    hit = await cache.get_or_load(key, loader)

    assert raw is not None and raw.startswith(b"~zlib:")
    assert len(raw) < len(orjson.dumps({"meetings": meetings}))
    assert hit == {"meetings": meetings}
    assert loader.calls == 1
    assert await cache.get(key) == {"meetings": meetings}
    assert (await cache.inspect(key.key))["kind"] == "compressed"


async def test_loader_errors_reach_the_caller_and_free_the_key(make_cache: MakeCache) -> None:
    cache = await make_cache()
    key = keys.meeting_details(uuid.uuid4())

    async def failing() -> None:
        raise RuntimeError("database is on fire")

    with pytest.raises(RuntimeError, match="on fire"):
        await cache.get_or_load(key, failing)

    ok = Loader({"v": 2})
    assert await cache.get_or_load(key, ok) == {"v": 2}
    assert ok.calls == 1


async def test_a_corrupt_entry_is_replaced(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()
    key = keys.feature_flag("enable_sfu_logs")
    await clean_redis.set(key.key, b"not json at all")

    assert await cache.get_or_load(key, Loader({"enabled": True})) == {"enabled": True}
    assert orjson.loads(await clean_redis.get(key.key) or b"") == {"enabled": True}


async def test_spec_get_set_delete(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()
    user = uuid.uuid4()

    assert await cache.get_user_profile(user) is None
    await cache.set_user_profile(user, {"id": str(user), "username": "ann"})
    assert await cache.get_user_profile(user) == {"id": str(user), "username": "ann"}
    assert await clean_redis.pttl(keys.user_profile(user).key) > 0.9 * 1800 * 1000 - 1000

    await cache.set("scratch:key", [1, 2], ttl=30)
    assert await cache.get("scratch:key") == [1, 2]
    assert await cache.delete("scratch:key") is True
    assert await cache.delete("scratch:key") is False
    assert await cache.get("scratch:key") is None

    await cache.invalidate_user_profile(user)
    assert await cache.get_user_profile(user) is None
    with pytest.raises(ValueError, match="password hash"):
        await cache.set_user_profile(user, {"id": str(user), "passwordHash": "x"})


async def test_entity_specific_operations_use_the_contract_keys(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    host, meeting = uuid.uuid4(), uuid.uuid4()
    await cache.set_meeting_details(meeting, {"id": "m"})
    await cache.set_participant_list(meeting, [])
    await cache.set_feature_flag("use_livekit_sfu", {"enabled": False})
    await cache.set_public_user("sess", {"name": "g"})
    await cache.set_meeting_list(host, 1, 10, "Q3", {"meetings": []})
    await cache.set_meeting_joined(host, 1, 10, {"meetings": []})
    await cache.set_meeting_upcoming(host, 5, [])
    await cache.set_meeting_past(host, 1, 10, {"meetings": []})

    names = sorted(k.decode() for k in await clean_redis.keys("*") if b"index:" not in k)
    assert names == sorted(
        [
            f"meeting:details:{meeting}",
            f"meeting:participants:{meeting}",
            "feature_flag:use_livekit_sfu",
            "public_user:sess",
            f"meeting:list:{host}:page:1:limit:10:search:q3",
            f"meeting:joined:{host}:page:1:limit:10",
            f"meeting:upcoming:{host}:limit:5",
            f"meeting:past:{host}:page:1:limit:10",
        ]
    )
    assert await cache.get_meeting_list(host, 1, 10, "q3") == {"meetings": []}
    assert await cache.get_meeting_upcoming(host, 5) == []
    await cache.invalidate_meeting_details(meeting)
    await cache.invalidate_participant_list(meeting)
    await cache.invalidate_feature_flag("use_livekit_sfu")
    await cache.invalidate_public_user("sess")
    await cache.invalidate_user_related(host)
    assert [k for k in await clean_redis.keys("*") if not k.startswith(b"index:")] == []


async def test_cache_off_never_touches_redis(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache(gomeet_cache=False)
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"v": 1})

    for _ in range(3):
        assert await cache.get_or_load(key, loader) == {"v": 1}
    await cache.put(key, {"v": 2})
    await cache.invalidate(key)

    assert loader.calls == 3
    assert await clean_redis.dbsize() == 0
    assert (await cache.health_check())["status"] == "disabled"
    assert (await cache.get_cache_stats())["enabled"] is False


async def test_a_look_at_a_key_returns_what_is_cached_and_loads_nothing(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    """`cached`: the value of a hit (counted once, as `get_or_load` counts it), MISSING for
    an absent key (no lease taken) or a corrupt entry (counted as an error), which the
    caller's `get_or_load` then replaces."""
    cache = await make_cache()
    stored, absent, corrupt = (keys.user_profile(uuid.uuid4()) for _ in range(3))
    await cache.get_or_load(stored, Loader({"username": "ann"}))
    await clean_redis.set(corrupt.key, b"not json at all")
    counts = cache.stats.counts[stored.family]
    hits = counts[HITS]

    looks = await asyncio.gather(*(cache.cached(stored) for _ in range(10)))

    assert looks == [{"username": "ann"}] * 10
    assert counts[HITS] == hits + 10
    assert await cache.cached(absent) is MISSING
    assert await clean_redis.exists(absent.key) == 0  # no lease taken for it
    errors = cache.stats.counts[corrupt.family][ERRORS]
    assert await cache.cached(corrupt) is MISSING
    assert cache.stats.counts[corrupt.family][ERRORS] == errors + 1  # counted, not served
    assert await cache.get_or_load(corrupt, Loader({"username": "bo"})) == {"username": "bo"}
