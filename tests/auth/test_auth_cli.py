"""`gomeet users promote EMAIL` against the test database and Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from gomeet.cli import app
from helpers import API, bearer, register


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


async def test_promote_makes_the_user_an_admin(client: httpx.AsyncClient, cli_env: None) -> None:
    data = await register(client)
    token = data["accessToken"]
    assert (await client.get(f"{API}/auth/me", headers=bearer(token))).json()["data"]["user"][
        "role"
    ] == "user"

    result = await _invoke("users", "promote", data["user"]["email"].upper())

    assert result.exit_code == 0, result.output
    assert "is now an admin" in result.output
    assert "invalidated" in result.output
    me = await client.get(f"{API}/auth/me", headers=bearer(token))
    assert me.json()["data"]["user"]["role"] == "admin"


async def test_promote_of_an_unknown_email_fails(client: httpx.AsyncClient, cli_env: None) -> None:
    result = await _invoke("users", "promote", "nobody@example.com")
    assert result.exit_code == 1
    assert "No user with e-mail nobody@example.com" in result.output


async def test_promote_with_redis_down_still_promotes(
    client: httpx.AsyncClient, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = await register(client)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    result = await _invoke("users", "promote", data["user"]["email"])
    assert result.exit_code == 0, result.output
    assert "Redis unreachable" in result.output
    me = await client.get(f"{API}/auth/me", headers=bearer(data["accessToken"]))
    assert me.json()["data"]["user"]["role"] == "admin"
