"""Rate limiting against a real Redis: buckets, headers, atomicity, failing open."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from redis.asyncio import Redis

from gomeet.cache import Family
from gomeet.cache.stats import HITS
from helpers import API, bearer, register_user
from support.proxy import TcpProxy, Upstream

ANONYMOUS_PATH = f"{API}/nope"  # any path counts; an unknown one keeps the test self-contained
STRENGTH_PATH = f"{API}/auth/check-password-strength"


def assert_rate_limited(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429
    assert response.json()["success"] is False
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert error["details"] == {"retryAfter": retry_after, "limit": limit, "windowSeconds": 60}
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())
    assert response.headers["x-request-id"]


async def test_general_bucket_counts_down_then_refuses_with_429(
    app_client: Callable[..., Any],
) -> None:
    async with app_client(rate_limit_enabled=True, rate_limit_general_requests=3) as client:
        remaining = []
        for _ in range(3):
            response = await client.get(ANONYMOUS_PATH)
            assert response.status_code == 404
            assert response.headers["x-ratelimit-limit"] == "3"
            remaining.append(response.headers["x-ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]
        assert_rate_limited(await client.get(ANONYMOUS_PATH), limit=3)


async def test_keys_follow_the_ratelimit_bucket_id_scheme(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    async with app_client(rate_limit_enabled=True) as client:
        await client.get(ANONYMOUS_PATH)
    keys = await clean_redis.keys("ratelimit:*")
    assert keys == [b"ratelimit:general:127.0.0.1"]
    assert 0 < await clean_redis.pttl(keys[0]) <= 60_000


async def test_disabled_rate_limiting_never_refuses(app_client: Callable[..., Any]) -> None:
    async with app_client(rate_limit_enabled=False, rate_limit_general_requests=1) as client:
        for _ in range(3):
            response = await client.get(ANONYMOUS_PATH)
            assert response.status_code == 404
            assert "x-ratelimit-limit" not in response.headers


async def test_health_is_exempt(app_client: Callable[..., Any]) -> None:
    async with app_client(rate_limit_enabled=True, rate_limit_general_requests=1) as client:
        assert (await client.get(ANONYMOUS_PATH)).status_code == 404
        for _ in range(3):
            for probe in ("/api/health", "/api/health/live"):
                response = await client.get(probe)
                assert response.status_code == 200
                assert "x-ratelimit-limit" not in response.headers


async def test_authenticated_requests_use_a_per_user_bucket_separate_from_the_ip(
    app_client: Callable[..., Any],
) -> None:
    settings = {
        "rate_limit_enabled": True,
        "rate_limit_general_requests": 3,
        "rate_limit_authenticated_requests": 4,
    }
    async with app_client(**settings) as client:
        _, token, _ = await register_user(client)  # 1 of the IP's 3
        for expected_remaining in ("3", "2", "1", "0"):
            me = await client.get(f"{API}/auth/me", headers=bearer(token))
            assert me.status_code == 200
            assert me.headers["x-ratelimit-limit"] == "4"
            assert me.headers["x-ratelimit-remaining"] == expected_remaining
        assert_rate_limited(await client.get(f"{API}/auth/me", headers=bearer(token)), limit=4)
        # The user's bucket is full; anonymous requests from the same IP still pass.
        anonymous = await client.get(ANONYMOUS_PATH)
        assert anonymous.status_code == 404
        assert anonymous.headers["x-ratelimit-limit"] == "3"
        assert anonymous.headers["x-ratelimit-remaining"] == "1"
        # Another user from the same IP has a bucket of their own.
        _, other_token, _ = await register_user(client)  # 3 of the IP's 3
        assert (await client.get(f"{API}/auth/me", headers=bearer(other_token))).status_code == 200


async def test_an_invalid_token_counts_against_the_ip(app_client: Callable[..., Any]) -> None:
    async with app_client(rate_limit_enabled=True, rate_limit_general_requests=2) as client:
        for _ in range(2):
            response = await client.get(f"{API}/auth/me", headers=bearer("not-a-token"))
            assert response.status_code == 401
        assert_rate_limited(
            await client.get(f"{API}/auth/me", headers=bearer("not-a-token")), limit=2
        )


async def test_credential_endpoints_have_a_stricter_bucket(
    app_client: Callable[..., Any],
) -> None:
    settings = {
        "rate_limit_enabled": True,
        "rate_limit_auth_requests": 2,
        "rate_limit_general_requests": 10,
    }
    async with app_client(**settings) as client:
        body = {"password": "Str0ng-Passw0rd!x"}
        for _ in range(2):
            response = await client.post(STRENGTH_PATH, json=body)
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "2"
        assert_rate_limited(await client.post(STRENGTH_PATH, json=body), limit=2)
        login = await client.post(
            f"{API}/auth/login", json={"email": "a@example.com", "password": "x"}
        )
        assert_rate_limited(login, limit=2)
        # Other endpoints only count against the general bucket: 2 allowed + 2 refused so far.
        other = await client.get(ANONYMOUS_PATH)
        assert other.status_code == 404
        assert other.headers["x-ratelimit-limit"] == "10"
        assert other.headers["x-ratelimit-remaining"] == "7"


async def test_password_and_profile_changes_use_the_auth_bucket_but_me_does_not(
    app_client: Callable[..., Any],
) -> None:
    """Guessing the current password through update-password is limited like login."""
    settings = {"rate_limit_enabled": True, "rate_limit_auth_requests": 3}
    async with app_client(**settings) as client:
        _, token, _ = await register_user(client)  # 1 of the IP's 3 auth requests
        wrong = {"currentPassword": "Wr0ng-Passw0rd!x", "newPassword": "N3w-Passw0rd!xyz"}
        path = f"{API}/auth/update-password"
        response = await client.put(path, json=wrong, headers=bearer(token))
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "AUTH_006"
        assert response.headers["x-ratelimit-limit"] == "3"
        profile = await client.put(
            f"{API}/auth/update-profile", json={"username": "renamed"}, headers=bearer(token)
        )
        assert profile.status_code == 200  # 3 of 3
        assert_rate_limited(await client.put(path, json=wrong, headers=bearer(token)), limit=3)
        # GET /auth/me is a read path: only the (much larger) per-user bucket applies.
        for _ in range(3):
            me = await client.get(f"{API}/auth/me", headers=bearer(token))
            assert me.status_code == 200
            assert me.headers["x-ratelimit-limit"] == "1000"


async def test_concurrent_requests_never_exceed_the_limit(app_client: Callable[..., Any]) -> None:
    async with app_client(rate_limit_enabled=True, rate_limit_general_requests=5) as client:
        responses = await asyncio.gather(*(client.get(ANONYMOUS_PATH) for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [404] * 5 + [429] * 15


async def test_requests_succeed_when_redis_is_down(app_client: Callable[..., Any]) -> None:
    dead_redis = "redis://127.0.0.1:1/0"
    async with app_client(
        rate_limit_enabled=True, rate_limit_general_requests=1, redis_url=dead_redis
    ) as client:
        for _ in range(3):
            response = await client.get(ANONYMOUS_PATH)
            assert response.status_code == 404
            assert "x-ratelimit-limit" not in response.headers


async def _profile_reads(redis: Redis, requests: Callable[[], Any], user_id: str) -> list[str]:
    """The commands that read the user's profile key (it among their keys: `GET`, the
    fill's script) that Redis saw while `requests()` ran, by verb."""
    key = f"user:profile:{user_id}"
    marker = uuid.uuid4().hex
    seen: list[list[str]] = []
    marked = asyncio.Event()
    async with redis.monitor() as monitor:
        await monitor.next_command()  # MONITOR's own OK: what follows is the traffic

        async def record() -> None:
            async for command in monitor.listen():
                seen.append(words := command["command"].split(" "))
                if marker in words:
                    marked.set()

        recorder = asyncio.create_task(record())
        try:
            await requests()
            await redis.echo(marker)  # what was sent before it has been seen once it is
            await asyncio.wait_for(marked.wait(), timeout=10)
        finally:
            recorder.cancel()
    by_key = {"GET": lambda args: args[:1], "EVALSHA": lambda args: args[2 : 2 + int(args[1])]}
    return [verb for verb, *args in seen if verb in by_key and key in by_key[verb](args)]


async def test_a_cached_read_with_rate_limiting_reads_its_callers_profile_once(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    """The limiter's look at the caller's profile (revoked or not) is the request's read of
    it: the auth dependency uses that value instead of reading the key again."""
    async with app_client(rate_limit_enabled=True) as client:
        user, token, _ = await register_user(client)
        first = await client.get(f"{API}/auth/me", headers=bearer(token))  # caches the profile
        assert first.status_code == 200

        async def reads() -> None:
            for _ in range(5):
                me = await client.get(f"{API}/auth/me", headers=bearer(token))
                assert me.status_code == 200
                assert me.headers["x-ratelimit-limit"] == "1000"  # the user's own bucket
                assert me.json()["data"]["user"]["id"] == user["id"]

        assert await _profile_reads(clean_redis, reads, user["id"]) == ["GET"] * 5


async def test_concurrent_rate_limited_reads_are_each_counted_once_as_hits(
    app_client: Callable[..., Any],
) -> None:
    async with app_client(rate_limit_enabled=True) as client:
        _, token, _ = await register_user(client)
        assert (await client.get(f"{API}/auth/me", headers=bearer(token))).status_code == 200
        counts = client.app.state.cache.stats.counts[Family.USER_PROFILE]  # type: ignore[attr-defined]
        before = counts[HITS]
        responses = await asyncio.gather(
            *(client.get(f"{API}/auth/me", headers=bearer(token)) for _ in range(20))
        )
        after = counts[HITS]
    assert [r.status_code for r in responses] == [200] * 20
    assert after - before == 20


async def test_with_redis_black_holed_a_rate_limited_read_still_checks_revocation(
    app_client: Callable[..., Any], redis_url: str, tcp_proxy: Callable[..., TcpProxy]
) -> None:
    """No cached profile to reuse: the limiter lets the request through and the auth
    dependency reads the profile from the database, a logout included."""
    proxy = tcp_proxy(Upstream.of_redis_url(redis_url))
    async with app_client(rate_limit_enabled=True, redis_url=proxy.redis_url(redis_url)) as client:
        _, token, _ = await register_user(client)
        assert (await client.get(f"{API}/auth/me", headers=bearer(token))).status_code == 200
        proxy.blackhole()
        statuses = [
            r.status_code
            for r in await asyncio.gather(
                *(client.get(f"{API}/auth/me", headers=bearer(token)) for _ in range(10))
            )
        ]
        assert (await client.post(f"{API}/auth/logout", headers=bearer(token))).status_code == 200
        revoked = await client.get(f"{API}/auth/me", headers=bearer(token))
    assert statuses == [200] * 10
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "AUTH_005"
