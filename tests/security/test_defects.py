"""Regression tests of the defects issue 10 found: each failed before its fix.

- the route label (metrics, access log) came from replacing path segments by parameter
  names, so a guest session id equal to another segment (`sess`, `api`, `public`, `v1`)
  produced a wrong label that kept the id;
- any correctly signed access token, a revoked one included, selected the per-user bucket;
- the auth bucket's paths were exact strings, which a `root_path` deployment never matched;
- (the avatar URL with a non-numeric port is in tests/auth/test_auth_profile.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gomeet.config import Settings
from helpers import API, DEFAULT_PASSWORD, bearer, register_user, scrape
from support.apps import open_app

SESSION_ROUTE = f"{API}/public-users/session/{{session_id}}"
# Ids equal to a segment of the route's own path (or a prefix of one).
TRICKY_SESSION_IDS = ["sess", "api", "public", "v1", "session", "public-users"]


async def test_route_label_is_the_route_template_whatever_the_session_id(
    app_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    async with app_client(log_level="INFO") as client:
        capsys.readouterr()
        for session_id in TRICKY_SESSION_IDS:
            created = await client.post(
                f"{API}/public-users", json={"name": "Guest", "sessionId": session_id}
            )
            assert created.status_code == 201
            read = await client.get(f"{API}/public-users/session/{session_id}")
            assert read.status_code == 200
        out = capsys.readouterr().out
        samples = await scrape(client)

    routes = {s.labels["route"] for s in samples if s.name == "gomeet_http_requests_total"}
    assert SESSION_ROUTE in routes
    assert routes <= {SESSION_ROUTE, f"{API}/public-users"}
    access = [json.loads(line) for line in out.splitlines() if '"request"' in line]
    reads = [r for r in access if r["event"] == "request" and r["method"] == "GET"]
    assert [r["route"] for r in reads] == [SESSION_ROUTE] * len(TRICKY_SESSION_IDS)


async def test_route_label_leaves_out_the_root_path(
    app_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    async with open_app(make_settings(), root_path="/gomeet") as client:
        session_id = "gomeet"
        body = {"name": "Guest", "sessionId": session_id}
        assert (await client.post(f"/gomeet{API}/public-users", json=body)).status_code == 201
        read = await client.get(f"/gomeet{API}/public-users/session/{session_id}")
        assert read.status_code == 200
        metrics = await client.get("/gomeet/metrics")
    assert f'route="{SESSION_ROUTE}"' in metrics.text
    assert "/gomeet/api" not in metrics.text


async def test_a_revoked_token_counts_against_the_ip_not_the_user(
    app_client: Callable[..., Any],
) -> None:
    settings = {
        "rate_limit_enabled": True,
        "rate_limit_general_requests": 50,
        "rate_limit_authenticated_requests": 1000,
    }
    async with app_client(**settings) as client:
        _, token, _ = await register_user(client)
        for _ in range(2):  # the first one caches the profile the limiter looks at
            me = await client.get(f"{API}/auth/me", headers=bearer(token))
            assert me.status_code == 200
        assert me.headers["x-ratelimit-limit"] == "1000"
        assert (await client.post(f"{API}/auth/logout", headers=bearer(token))).status_code == 200
        # The logout dropped the cached profile: the first refused request caches it again
        # (on whichever bucket); every later one, once revocation is known, is the IP's.
        limits = []
        for _ in range(4):
            revoked = await client.get(f"{API}/auth/me", headers=bearer(token))
            assert revoked.status_code == 401
            assert revoked.json()["error"]["code"] == "AUTH_005"
            limits.append(revoked.headers["x-ratelimit-limit"])
        assert limits[1:] == ["50"] * 3


async def test_a_token_revoked_by_a_password_change_counts_against_the_ip(
    app_client: Callable[..., Any],
) -> None:
    settings = {"rate_limit_enabled": True, "rate_limit_general_requests": 50}
    async with app_client(**settings) as client:
        _, token, _ = await register_user(client)
        change = {"currentPassword": DEFAULT_PASSWORD, "newPassword": "N3w-Str0ng-Pass!y"}
        changed = await client.put(
            f"{API}/auth/update-password", json=change, headers=bearer(token)
        )
        assert changed.status_code == 200
        fresh = changed.json()["data"]["accessToken"]
        assert (await client.get(f"{API}/auth/me", headers=bearer(fresh))).status_code == 200
        revoked = await client.get(f"{API}/meetings", headers=bearer(token))
        assert revoked.status_code == 401
        assert revoked.headers["x-ratelimit-limit"] == "50"  # the profile was cached by /me
        current = await client.get(f"{API}/meetings", headers=bearer(fresh))
        assert current.status_code == 200
        assert current.headers["x-ratelimit-limit"] == "1000"


@pytest.mark.parametrize("path", ["login", "register"])
async def test_the_auth_bucket_applies_under_a_root_path(
    app_client: Callable[..., Any], make_settings: Callable[..., Settings], path: str
) -> None:
    settings = make_settings(rate_limit_enabled=True, rate_limit_auth_requests=2)
    async with open_app(settings, root_path="/gomeet") as client:
        body = {"email": "nobody@example.com", "password": "x", "username": "nobody"}
        statuses = []
        for _ in range(3):
            response = await client.post(f"/gomeet{API}/auth/{path}", json=body)
            statuses.append(response.status_code)
            assert response.headers["x-ratelimit-limit"] == "2"
        health = await client.get("/gomeet/api/health/live")
    assert statuses[:2] != [429, 429]
    assert statuses[2] == 429
    assert health.status_code == 200
    assert "x-ratelimit-limit" not in health.headers  # the probes stay exempt there too


async def test_signed_in_requests_succeed_with_rate_limits_on_and_redis_down(
    app_client: Callable[..., Any],
) -> None:
    """The limiter's look at the cached profile fails open like the limiter itself."""
    async with app_client() as client:
        _, token, _ = await register_user(client)
    dead = {"rate_limit_enabled": True, "redis_url": "redis://127.0.0.1:1/0"}
    async with app_client(**dead) as client:
        for _ in range(3):
            me = await client.get(f"{API}/auth/me", headers=bearer(token))
            assert me.status_code == 200, me.text
