"""Every cache family through the API: a miss then a hit without SQL, the contract's key
and TTL, values readable with a raw GET, no password hash, authorization on hits, and
`GOMEET_CACHE=off`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cache_api_helpers import (
    FLAG,
    ZLIB_MARKER,
    World,
    build_world,
    count_sql,
    decode_entry,
    every_value,
    family_reads,
    outbox_applied,
    session_url,
    warm_profiles,
)
from redis.asyncio import Redis

from admin.admin_helpers import make_admin
from gomeet.cache import Family
from helpers import API, DEFAULT_PASSWORD, NOMINAL_TTL, bearer, login, register_user
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, error_code, iso, new_user

FAMILIES = list(Family)


async def fill(client: httpx.AsyncClient, family: Family) -> tuple[World, Any, list[str], float]:
    """A world, then the family's read made to miss: (world, data, SQL run, start time)."""
    world = await build_world(client)
    read = family_reads(world)[family]
    await warm_profiles(client, world)
    started = time.monotonic()
    await client.app.state.cache.delete(read.key)  # type: ignore[attr-defined]
    with count_sql(client) as statements:
        data = await read.fetch(client)
    return world, data, statements, started


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_miss_then_a_hit_that_runs_no_sql_and_returns_the_same_data(
    client: httpx.AsyncClient, clean_redis: Redis, family: Family
) -> None:
    world, first, miss_sql, _ = await fill(client, family)
    read = family_reads(world)[family]
    assert miss_sql, "the miss must be served by the database"
    assert await clean_redis.exists(read.key) == 1

    with count_sql(client) as hit_sql:
        second = await read.fetch(client)
    assert hit_sql == []
    assert second == first


async def check_ttl(redis: Redis, key: str, nominal: int, started: float) -> None:
    """PTTL within [0.9, 1] * nominal (the jitter), less the time since the fill began."""
    pttl = await redis.pttl(key)
    elapsed_ms = (time.monotonic() - started) * 1000
    assert 0.9 * nominal * 1000 - elapsed_ms - 1 <= pttl <= nominal * 1000, (key, pttl)


@pytest.mark.parametrize("family", FAMILIES)
async def test_the_key_has_the_contract_name_and_ttl(
    client: httpx.AsyncClient, clean_redis: Redis, family: Family
) -> None:
    world, _, _, started = await fill(client, family)
    await check_ttl(clean_redis, family_reads(world)[family].key, NOMINAL_TTL[family], started)


async def test_ttl_overrides_are_honoured_for_every_family(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    overrides = {family: 100 + i for i, family in enumerate(FAMILIES)}
    settings = {f"cache_ttl_{family.value}": ttl for family, ttl in overrides.items()}
    async with app_client(**settings) as client:
        world = await build_world(client)
        await warm_profiles(client, world)
        for family, read in family_reads(world).items():
            started = time.monotonic()
            await client.app.state.cache.delete(read.key)  # type: ignore[attr-defined]
            await read.fetch(client)
            await check_ttl(clean_redis, read.key, overrides[family], started)


async def test_values_are_utf8_json_that_a_raw_get_reads(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    world = await build_world(client)
    await outbox_applied(client)  # (an invalidation applied late would delete a fill)
    for family, read in family_reads(world).items():
        data = await read.fetch(client)
        raw = await clean_redis.get(read.key)
        assert raw is not None and raw[:1] != b"~", (family, raw)  # plain JSON, no marker
        value = decode_entry(raw)
        assert raw.decode("utf-8")
        if family is Family.USER_PROFILE:
            assert {k: value[k] for k in data["user"]} == data["user"]
        else:
            assert value == data, family


async def test_a_large_value_is_compressed_behind_the_marker_and_served_alike(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    _, auth = await new_user(client)
    people = [{"name": f"P{i}", "avatarUrl": "https://img.test/" + "a" * 1000} for i in range(100)]
    meeting = await create_meeting(client, auth, "Big", participants=people)
    key = f"meeting:details:{meeting['id']}"
    first = data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))
    raw = await clean_redis.get(key)
    assert raw is not None and raw.startswith(ZLIB_MARKER)
    assert len(raw) < len(first["participants"]) * 1000  # actually smaller
    assert decode_entry(raw) == first
    with count_sql(client) as hit_sql:
        second = data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))
    assert hit_sql == []
    assert second == first


async def user_journey(
    client: httpx.AsyncClient, midway: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Every endpoint family a user goes through, each answering 2xx; `midway` runs when
    every read has been made twice (everything cached), before the writes."""
    _, admin = await make_admin(client)
    host, host_access, _ = await register_user(client)
    host_auth = bearer(host_access)
    _, member_auth = await new_user(client)
    data_of(await client.get(f"{API}/auth/me", headers=host_auth))
    host_auth = bearer((await login(client, host["email"]))["accessToken"])
    profile = {"username": f"{host['username']}_x", "avatarUrl": "https://img.test/h.png"}
    data_of(await client.put(f"{API}/auth/update-profile", json=profile, headers=host_auth))
    meeting = await create_meeting(client, host_auth, "Journey")
    await create_meeting(client, host_auth, "Old journey", timedelta(days=-1))
    m = f"{MEETINGS}/{meeting['id']}"
    data_of(await client.post(f"{m}/join", headers=member_auth))
    data_of(await client.patch(f"{m}/start", headers=host_auth))
    session_id = "journey-session"
    data_of(
        await client.post(f"{API}/public-users", json={"name": "G", "sessionId": session_id}), 201
    )
    guest = {"sessionId": session_id, "meetingId": meeting["id"]}
    assert (await client.post(f"{API}/public-users/join-meeting", json=guest)).status_code < 300
    for _ in range(2):
        for path, auth in (
            (m, host_auth),
            (f"{m}/participants", member_auth),
            (f"{m}/public", None),
            (f"{m}/participants/public", None),
            (f"{MEETINGS}?search=journey", host_auth),
            (f"{MEETINGS}/upcoming", host_auth),
            (f"{MEETINGS}/past", host_auth),
            (f"{MEETINGS}/joined", member_auth),
            (session_url(session_id), None),
            (f"{API}/feature-flags/{FLAG}", member_auth),
            (f"{API}/feature-flags/config", member_auth),
            (f"{API}/feature-flags/all", member_auth),
            (f"{API}/auth/me", member_auth),
        ):
            data_of(await client.get(path, headers=auth))
    if midway is not None:
        await midway()
    data_of(await client.put(session_url(session_id), json={"name": "G2"}))
    assert (await client.post(f"{API}/public-users/leave-meeting", json=guest)).status_code < 300
    flag = {"flagName": FLAG, "enabled": False}
    data_of(await client.post(f"{API}/feature-flags/set", json=flag, headers=admin))
    data_of(
        await client.put(
            m, json={"name": "Journey 2", "startTime": iso(timedelta(hours=2))}, headers=host_auth
        )
    )
    data_of(await client.post(f"{m}/leave", headers=member_auth))
    new_password = {"currentPassword": DEFAULT_PASSWORD, "newPassword": "An0ther-Passw0rd!y"}
    pair = data_of(
        await client.put(f"{API}/auth/update-password", json=new_password, headers=host_auth)
    )
    host_auth = bearer(pair["accessToken"])
    data_of(await client.get(f"{API}/auth/me", headers=host_auth))
    data_of(await client.delete(m, headers=host_auth))
    data_of(await client.post(f"{API}/auth/logout", headers=member_auth))


async def test_no_cached_value_ever_holds_a_password_hash(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    snapshots: list[dict[str, bytes]] = []

    async def snapshot() -> None:
        snapshots.append(await every_value(clean_redis))

    await user_journey(client, snapshot)
    await snapshot()
    for values in snapshots:
        assert sum(name.startswith("user:profile:") for name in values) >= 2  # profiles cached
        assert [name for name, blob in values.items() if b"$argon2" in blob] == []


async def test_with_the_cache_off_nothing_is_written_and_everything_works(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    async with app_client(gomeet_cache=False) as client:
        await user_journey(client)
        world = await build_world(client)
        for read in family_reads(world).values():
            await read.fetch(client)
    assert await clean_redis.dbsize() == 0


async def test_authorization_is_checked_on_cache_hits(client: httpx.AsyncClient) -> None:
    world = await build_world(client)
    meeting = f"{MEETINGS}/{world.meeting['id']}"
    for path in (meeting, f"{meeting}/participants"):  # the host fills both keys
        data_of(await client.get(path, headers=world.host_auth))
    _, stranger = await new_user(client)
    data_of(await client.get(f"{API}/auth/me", headers=stranger))  # their profile cached

    for path in (meeting, f"{meeting}/participants"):
        with count_sql(client) as statements:
            assert error_code(await client.get(path, headers=stranger), 403) == "FORBIDDEN"
            assert error_code(await client.get(path), 401) == "UNAUTHORIZED"
        assert statements == []  # refused on the cached copy
        data_of(await client.get(path, headers=world.member_auth))  # a participant may
