"""The read-through fill path, as seen from Redis and from a caller.

Guarantees: a miss calls the loader once and later reads are hits; a hit returns exactly
the JSON a miss returned; the stored value is plain JSON readable with `redis-cli GET`
(large values compressed behind the documented `~zlib:` marker); every family's TTL lies
within [0.9, 1] of its nominal value and `CACHE_TTL_<FAMILY>` overrides it; an absent
result (loader returned None) is cached briefly and invalidated like any other value.
"""

from __future__ import annotations

import uuid

import orjson
import pytest
from cache_helpers import Loader, MakeCache
from redis.asyncio import Redis

from gomeet.cache import CacheKey, CacheOptions, keys
from helpers import NOMINAL_TTL


def one_key_per_family() -> list[CacheKey]:
    owner = uuid.uuid4()
    return [
        keys.user_profile(owner),
        keys.meeting_details(uuid.uuid4()),
        keys.participant_list(uuid.uuid4()),
        keys.feature_flag("use_webrtc_mesh"),
        keys.public_user("session-1"),
        keys.meeting_list(owner, 1, 10, "standup"),
        keys.meeting_joined(owner, 1, 10),
        keys.meeting_upcoming(owner, 5),
        keys.meeting_past(owner, 2, 10),
    ]


async def test_a_miss_loads_once_then_reads_are_hits(make_cache: MakeCache) -> None:
    cache = await make_cache()
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"id": "m1", "name": "Standup", "participants": []})

    first = await cache.get_or_load(key, loader)
    second = await cache.get_or_load(key, loader)
    third = await cache.get_or_load(key, loader)

    assert loader.calls == 1
    assert first == second == third == {"id": "m1", "name": "Standup", "participants": []}


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


async def test_the_stored_value_is_plain_json(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()
    key = keys.user_profile(uuid.uuid4())
    profile = {"id": "u1", "username": "zoë", "role": "user"}

    await cache.get_or_load(key, Loader(profile))

    raw = await clean_redis.get(key.key)
    assert raw is not None
    assert orjson.loads(raw) == profile
    assert raw.decode("utf-8").startswith("{")


@pytest.mark.parametrize("key", one_key_per_family(), ids=lambda k: k.family.value)
async def test_ttl_is_within_ten_percent_below_the_nominal_value(
    make_cache: MakeCache, clean_redis: Redis, key: CacheKey
) -> None:
    cache = await make_cache()
    nominal_ms = NOMINAL_TTL[key.family] * 1000
    for _ in range(5):
        await cache.invalidate(key)
        await cache.get_or_load(key, Loader({"v": 1}))
        pttl = await clean_redis.pttl(key.key)
        assert 0.9 * nominal_ms - 1000 <= pttl <= nominal_ms


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
