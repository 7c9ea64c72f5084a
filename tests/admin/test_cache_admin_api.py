"""`/api/v1/admin/cache`: statistics, health, flushing and warming, administrators only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from admin_helpers import ADMIN_CACHE, build_world, cached_keys, data_of, error_of, make_admin
from redis.asyncio import Redis

from gomeet.cache import Family
from helpers import API, bearer, register_user

ENDPOINTS = [
    ("GET", f"{ADMIN_CACHE}/stats"),
    ("GET", f"{ADMIN_CACHE}/health"),
    ("POST", f"{ADMIN_CACHE}/warm"),
    ("DELETE", ADMIN_CACHE),
    ("DELETE", f"{ADMIN_CACHE}?family=user_profile"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_only_admins_may_use_the_cache_endpoints(
    client: httpx.AsyncClient, clean_redis: Redis, method: str, path: str
) -> None:
    _, access, _ = await register_user(client)
    await client.get(f"{API}/auth/me", headers=bearer(access))  # a profile in the cache
    before = await cached_keys(clean_redis)

    assert error_of(await client.request(method, path), 401)["code"] == "UNAUTHORIZED"
    refused = await client.request(method, path, headers=bearer(access))
    assert error_of(refused, 403)["code"] == "FORBIDDEN"
    assert await cached_keys(clean_redis) == before  # nothing flushed, nothing warmed


async def test_stats_have_the_contract_shape_and_count_real_traffic(
    client: httpx.AsyncClient,
) -> None:
    _, admin = await make_admin(client)
    world = await build_world(client)
    stats = data_of(await client.get(f"{ADMIN_CACHE}/stats", headers=admin))
    for field in ("hits", "misses", "sets", "deletes", "errors", "hitRatio", "lastUpdated"):
        assert field in stats
    assert isinstance(stats["families"], dict)

    meeting = f"{API}/meetings/{world.meeting_id}"
    for _ in range(3):
        data_of(await client.get(meeting, headers=world.host_auth))
    after = data_of(await client.get(f"{ADMIN_CACHE}/stats", headers=admin))

    def reads(s: dict[str, Any]) -> tuple[int, int]:
        figures = s["families"].get("meeting_details", {"hits": 0, "misses": 0})
        return figures["hits"], figures["misses"]

    hits0, misses0 = reads(stats)
    hits1, misses1 = reads(after)
    assert (hits1 + misses1) - (hits0 + misses0) == 3
    assert hits1 - hits0 >= 2  # at most the first read missed
    assert after["hits"] >= hits1
    assert after["hitRatio"] == round(after["hits"] / (after["hits"] + after["misses"]), 4)
    assert after["lastUpdated"]


async def test_health_reports_a_working_round_trip(client: httpx.AsyncClient) -> None:
    _, admin = await make_admin(client)
    report = data_of(await client.get(f"{ADMIN_CACHE}/health", headers=admin))
    assert report["status"] == "ok"
    assert report["error"] is None
    assert report["latencyMs"] >= 0
    assert report["circuit"] == "closed"


async def test_with_redis_down_health_is_down_and_warming_refused(
    app_client: Callable[..., Any],
) -> None:
    async with app_client(redis_url="redis://127.0.0.1:1/0") as client:
        _, admin = await make_admin(client)
        health = await client.get(f"{ADMIN_CACHE}/health", headers=admin)
        warm = await client.post(f"{ADMIN_CACHE}/warm", headers=admin)
        flushed = await client.delete(ADMIN_CACHE, headers=admin)
    report = data_of(health)
    assert report["status"] == "down"
    assert report["error"]
    assert error_of(warm, 503)["code"] == "CACHE_UNAVAILABLE"
    assert data_of(flushed)["applied"] is False


async def test_flush_of_a_family_removes_exactly_its_keys(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    _, admin = await make_admin(client)
    world = await build_world(client)
    for path in ("", f"/{world.meeting_id}", f"/{world.meeting_id}/participants", "/upcoming"):
        data_of(await client.get(f"{API}/meetings{path}", headers=world.host_auth))
    data_of(await client.get(f"{ADMIN_CACHE}/health", headers=admin))  # the admin's profile
    before = await cached_keys(clean_redis)
    details = {k for k in before if k.startswith("meeting:details:")}
    lists = {k for k in before if k.startswith(("meeting:list:", "index:meeting_list:"))}
    assert details and lists and before - details - lists

    report = data_of(await client.delete(f"{ADMIN_CACHE}?family=meeting_details", headers=admin))
    assert report == {
        "family": "meeting_details",
        "deleted": len(details),
        "applied": True,
        "pendingInvalidations": 0,
    }
    assert await cached_keys(clean_redis) == before - details

    report = data_of(await client.delete(f"{ADMIN_CACHE}?family=meeting_list", headers=admin))
    assert report["deleted"] == len(lists)
    assert await cached_keys(clean_redis) == before - details - lists


async def test_flush_without_a_family_empties_every_family_but_keeps_the_stats(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    _, admin = await make_admin(client)
    world = await build_world(client)
    data_of(await client.get(f"{API}/meetings/{world.meeting_id}", headers=world.host_auth))
    data_of(await client.get(f"{ADMIN_CACHE}/stats", headers=admin))  # flushes the stats
    assert await cached_keys(clean_redis)

    report = data_of(await client.delete(ADMIN_CACHE, headers=admin))
    assert report["family"] is None
    assert report["deleted"] > 0
    assert await cached_keys(clean_redis) == set()
    assert await clean_redis.exists("cache:stats")


@pytest.mark.parametrize("family", ["meetings", "", "USER_PROFILE", "user_profile*"])
async def test_an_unknown_family_is_a_400_listing_the_valid_ones(
    client: httpx.AsyncClient, clean_redis: Redis, family: str
) -> None:
    _, admin = await make_admin(client)
    data_of(await client.get(f"{ADMIN_CACHE}/health", headers=admin))  # the admin's profile
    before = await cached_keys(clean_redis)
    error = error_of(
        await client.delete(ADMIN_CACHE, params={"family": family}, headers=admin), 400
    )
    assert error["code"] == "INVALID_CACHE_FAMILY"
    assert error["details"]["validFamilies"] == [f.value for f in Family]
    assert await cached_keys(clean_redis) == before


async def test_warm_fills_the_keys_that_requests_then_hit(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    _, admin = await make_admin(client)
    w = await build_world(client)
    data_of(await client.delete(ADMIN_CACHE, headers=admin))
    assert await cached_keys(clean_redis) == set()

    report = data_of(await client.post(f"{ADMIN_CACHE}/warm", headers=admin))

    host, member, meeting = w.host["id"], w.member["id"], w.meeting_id
    expected = {
        "feature_flag:use_livekit_sfu",
        "feature_flag:use_webrtc_mesh",
        "feature_flag:enable_sfu_logs",
        f"user:profile:{host}",
        f"user:profile:{member}",
        f"meeting:upcoming:{host}:limit:5",
        f"meeting:list:{host}:page:1:limit:10:search:",
        f"meeting:joined:{member}:page:1:limit:10",
        f"meeting:details:{meeting}",
        f"meeting:participants:{meeting}",
        f"public_user:{w.session_id}",
    }
    assert expected <= await cached_keys(clean_redis)
    assert report["meetings"] == 1
    assert report["guests"] == 1
    assert report["featureFlags"] == 3
    assert report["users"] == 3  # the admin, the host and the member
    assert report["families"]["meeting_details"] == {"keys": 1, "loaded": 1}
    for family, figures in report["families"].items():
        if family != "user_profile":  # (the admin's was cached by authenticating the call)
            assert figures["loaded"] == figures["keys"], family

    # The warmed keys are the ones requests read: these are hits, nothing is loaded.
    before = data_of(await client.get(f"{ADMIN_CACHE}/stats", headers=admin))
    for path in ("/upcoming", "", f"/{meeting}", f"/{meeting}/participants"):
        data_of(await client.get(f"{API}/meetings{path}", headers=w.host_auth))
    data_of(await client.get(f"{API}/meetings/joined", headers=w.member_auth))
    data_of(await client.get(f"{API}/public-users/session/{w.session_id}"))
    after = data_of(await client.get(f"{ADMIN_CACHE}/stats", headers=admin))
    for family in ("meeting_upcoming", "meeting_list", "meeting_joined", "public_user"):
        assert after["families"][family]["loads"] == before["families"][family]["loads"]
        assert after["families"][family]["hits"] == before["families"][family]["hits"] + 1

    again = data_of(await client.post(f"{ADMIN_CACHE}/warm", headers=admin))
    assert again["keys"] == report["keys"]
    assert again["loaded"] == 0


async def test_warm_respects_its_bounds_and_refuses_bad_ones(client: httpx.AsyncClient) -> None:
    _, admin = await make_admin(client)
    await build_world(client)
    body = {"maxUsers": 1, "maxMeetings": 0}
    report = data_of(await client.post(f"{ADMIN_CACHE}/warm", json=body, headers=admin))
    assert report["users"] == 1
    assert report["meetings"] == 0
    assert "meeting_details" not in report["families"]

    for bad in ({"maxUsers": -1}, {"maxMeetings": 100_000}, {"maxUsers": "many"}):
        response = await client.post(f"{ADMIN_CACHE}/warm", json=bad, headers=admin)
        assert error_of(response, 400)["code"] == "VALIDATION_ERROR"


async def test_a_slow_warming_over_http_stops_at_its_budget_and_says_what_it_left(
    client: httpx.AsyncClient,
) -> None:
    """At one read a second, the ~10 reads of this world would hold the request ~10 s: it
    answers after the 5 s budget, with what it read and what it left out."""
    _, admin = await make_admin(client)
    await build_world(client)
    body = {"rate": 1}
    report = data_of(await client.post(f"{ADMIN_CACHE}/warm", json=body, headers=admin))
    assert report["complete"] is False
    assert report["remaining"] > 0

    complete = data_of(await client.post(f"{ADMIN_CACHE}/warm", headers=admin))
    assert complete["complete"] is True and complete["remaining"] == 0
    assert complete["keys"] > report["keys"]
