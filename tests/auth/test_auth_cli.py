"""`gomeet users promote EMAIL` against the test database and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from cache_api.cache_api_helpers import wait_until
from gomeet.cli import app
from helpers import API, bearer, register
from support.apps import l1_live


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("REDIS_HOST", "REDIS_CLUSTER_URL", "REDIS_SENTINEL_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)


async def _invoke(*args: str) -> Result:
    # The command runs its own event loop: give it a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


@pytest.mark.parametrize("l1", [False, True], ids=["l1-off", "l1-on"])
async def test_promote_makes_the_user_an_admin_on_a_running_server_at_once(
    app_client: Callable[..., Any], cli_env: None, l1: bool
) -> None:
    """The profile is cached (in Redis, and in the in-process tier with it on): the
    running server applies the command's change record from the outbox, so its next read
    shows the new role, not the cached one for up to 30 minutes."""
    async with app_client(gomeet_cache_l1=l1, gomeet_cache_l1_ttl=600) as client:
        if l1:
            assert await wait_until(lambda: l1_live(client))
        data = await register(client)
        token = data["accessToken"]
        for _ in range(2):
            me = await client.get(f"{API}/auth/me", headers=bearer(token))
            assert me.json()["data"]["user"]["role"] == "user"

        result = await _invoke("users", "promote", data["user"]["email"].upper())

        assert result.exit_code == 0, result.output
        assert "is now an admin" in result.output
        assert "Applied" in result.output
        me = await client.get(f"{API}/auth/me", headers=bearer(token))
        assert me.json()["data"]["user"]["role"] == "admin"


async def test_promote_of_an_unknown_email_fails(client: httpx.AsyncClient, cli_env: None) -> None:
    result = await _invoke("users", "promote", "nobody@example.com")
    assert result.exit_code == 1
    assert "No user with e-mail nobody@example.com" in result.output


async def test_promote_needs_no_redis_of_its_own(
    client: httpx.AsyncClient, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = await register(client)
    token = data["accessToken"]
    assert (await client.get(f"{API}/auth/me", headers=bearer(token))).status_code == 200
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # the command's: unreachable

    result = await _invoke("users", "promote", data["user"]["email"])

    assert result.exit_code == 0, result.output
    assert "Applied" in result.output  # by the running server, which reaches its Redis
    me = await client.get(f"{API}/auth/me", headers=bearer(token))
    assert me.json()["data"]["user"]["role"] == "admin"


async def test_promote_with_no_server_running_says_so(
    database_url: str, cli_env: None, app_client: Callable[..., Any]
) -> None:
    async with app_client() as client:
        data = await register(client)
    # No app is running now: nobody drains the outbox.
    result = await _invoke("users", "promote", data["user"]["email"])
    assert result.exit_code == 0, result.output
    assert "No running server has applied the change yet" in result.output
