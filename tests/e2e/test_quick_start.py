"""The quick start as a new user lives it: `gomeet serve` with nothing configured (SQLite,
an embedded Redis), then the operator commands run from the same directory reach that
server's Redis, and `gomeet users promote` takes effect at once on every worker."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import httpx
import pytest
from serve_helpers import SHUTDOWN_TIMEOUT_S, Server

from helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.e2e


def roles_seen(server: Server, token: str, requests: int = 6) -> set[str]:
    """The role `/auth/me` reports, over new connections (so both workers answer)."""
    roles = set()
    for _ in range(requests):
        me = httpx.get(f"{server.base_url}/api/v1/auth/me",
                       headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
        assert me.status_code == 200, me.text
        roles.add(me.json()["data"]["user"]["role"])
    return roles


def test_operator_commands_reach_the_running_servers_embedded_redis(
    start_server: Callable[..., Server],
) -> None:
    # Two workers, each with its in-process tier: the promotion must reach both tiers too.
    server = start_server(2, env={"GOMEET_CACHE_L1": "on"})
    registered = httpx.post(
        f"{server.base_url}/api/v1/auth/register",
        json={"username": "ada", "email": "ada@example.com", "password": DEFAULT_PASSWORD},
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    token, user_id = (
        registered.json()["data"]["accessToken"],
        registered.json()["data"]["user"]["id"],
    )
    assert roles_seen(server, token) == {"user"}  # the profile is cached, in Redis and tiers

    promoted = server.gomeet("users", "promote", "ada@example.com")
    assert promoted.returncode == 0, promoted.stderr
    assert "Applied" in promoted.stdout
    assert roles_seen(server, token) == {"admin"}  # at once, not after the 30 min TTL
    stats_api = httpx.get(f"{server.base_url}/api/v1/admin/cache/stats",
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    assert stats_api.status_code == 200

    stats = server.gomeet("cache", "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["families"]["user_profile"]["hits"] >= 1
    health = server.gomeet("cache", "health")
    assert health.returncode == 0, health.stderr
    entry = server.gomeet("cache", "get", f"user:profile:{user_id}", "--json")
    assert entry.returncode == 0, entry.stderr
    assert json.loads(entry.stdout)["value"]["role"] == "admin"
    warm = server.gomeet("cache", "warm", "--json")
    assert warm.returncode == 0, warm.stderr
    assert json.loads(warm.stdout)["users"] == 1
    flushed = server.gomeet("cache", "flush", "--family", "user_profile", "--json")
    assert flushed.returncode == 0, flushed.stderr
    assert json.loads(flushed.stdout)["deleted"] >= 1

    address = server.cwd / "var" / "redis.json"
    assert address.exists()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    assert not address.exists()
    after = server.gomeet("cache", "stats")
    assert after.returncode == 2
    assert "no running `gomeet serve`" in after.stderr
