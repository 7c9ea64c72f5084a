"""Structured JSON logs on stdout: one access record per request, request ids, no secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from helpers import API, DEFAULT_PASSWORD, bearer, login, register


def records(captured: str) -> list[dict[str, Any]]:
    """Every stdout line must be one JSON record."""
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


async def test_every_record_of_a_request_carries_its_request_id(
    app_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # A dead Redis makes the request log warnings (rate limiter, health) besides its access line.
    async with app_client(
        log_level="INFO", rate_limit_enabled=True, redis_url="redis://127.0.0.1:1/0"
    ) as client:
        capsys.readouterr()
        response = await client.get(f"{API}/nope", headers={"X-Request-ID": "req-one"})
        assert response.status_code == 404
        await client.get("/api/health", headers={"X-Request-ID": "req-two"})
        # The cache's background work (its subscription, stats) logs outside any request.
        background = {"subscribe", "flush_stats", "probe", "drain"}
        logged = [r for r in records(capsys.readouterr().out) if r["event"] not in background]

    one = [r for r in logged if r.get("request_id") == "req-one"]
    two = [r for r in logged if r.get("request_id") == "req-two"]
    assert len(one) + len(two) == len(logged)
    assert {r["event"] for r in one} == {"rate_limit_unavailable", "request"}
    assert {r["event"] for r in two} == {"health_check", "request"}
    access = next(r for r in one if r["event"] == "request")
    assert access["method"] == "GET"
    assert access["path"] == f"{API}/nope"
    assert access["status"] == 404
    assert access["duration_ms"] >= 0
    assert access["level"] == "info"
    assert access["timestamp"]


async def test_generated_request_id_is_echoed_and_logged(
    app_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    async with app_client(log_level="INFO") as client:
        capsys.readouterr()
        response = await client.get("/api/health")
        logged = records(capsys.readouterr().out)
    (access,) = [r for r in logged if r["event"] == "request"]
    assert access["request_id"] == response.headers["x-request-id"]
    assert access["route"] == "/api/health"
    assert access["status"] == 200


async def test_passwords_tokens_and_session_ids_never_reach_the_logs(
    app_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    session_id = "guest-session-secret-123456"
    async with app_client(log_level="DEBUG") as client:
        capsys.readouterr()
        registered = await register(client)
        email = registered["user"]["email"]
        logged_in = await login(client, email)
        await client.post(f"{API}/auth/login", json={"email": email, "password": "Wr0ng-pass!xx"})
        await client.get(f"{API}/auth/me", headers=bearer(logged_in["accessToken"]))
        await client.post(f"{API}/auth/refresh", json={"refreshToken": logged_in["refreshToken"]})
        await client.post(f"{API}/public-users", json={"name": "Guest", "sessionId": session_id})
        await client.get(f"{API}/public-users/session/{session_id}")
        out = capsys.readouterr().out

    access = [r for r in records(out) if r["event"] == "request"]
    assert len(access) == 7
    assert access[-1]["route"] == f"{API}/public-users/session/{{session_id}}"
    assert access[-1]["path"] == f"{API}/public-users/session/gues…"
    secrets = [
        DEFAULT_PASSWORD,
        "Wr0ng-pass!xx",
        registered["accessToken"],
        registered["refreshToken"],
        logged_in["accessToken"],
        logged_in["refreshToken"],
        session_id,
    ]
    for secret in secrets:
        assert secret not in out
