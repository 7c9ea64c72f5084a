"""`gomeet cache stats|health|get|flush|warm` against the test Redis and database."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from admin_helpers import build_world, cached_keys
from redis.asyncio import Redis
from typer.testing import CliRunner, Result

from gomeet.cache import Family, codec
from gomeet.cli import app
from helpers import API, bearer, register_user

REDIS_SETTINGS = ("REDIS_URL", "REDIS_HOST", "REDIS_CLUSTER_URL", "REDIS_SENTINEL_URL")


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (*REDIS_SETTINGS, "GOMEET_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)


async def invoke(*args: str) -> Result:
    # The command runs its own event loop: give it a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, app, ["cache", *args])


def parsed(result: Result, exit_code: int = 0) -> Any:
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


async def test_without_a_configured_redis_it_explains_and_exits_2(
    cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL")
    for command in ("stats", "health", "flush", "warm"):
        result = await invoke(command)
        assert result.exit_code == 2, result.output
        assert "No Redis configured" in result.output
        assert "no running `gomeet serve` with an embedded Redis found" in result.output


async def test_stats_in_a_table_and_as_json(client: httpx.AsyncClient, cli_env: None) -> None:
    _, access, _ = await register_user(client)
    for _ in range(3):
        assert (await client.get(f"{API}/auth/me", headers=bearer(access))).status_code == 200
    await client.app.state.cache.flush_stats()  # type: ignore[attr-defined]

    stats = parsed(await invoke("stats", "--json"))
    profile = stats["families"]["user_profile"]
    assert profile["hits"] >= 2
    assert profile["hits"] + profile["misses"] >= 3
    assert stats["source"] == "redis"

    table = await invoke("stats")
    assert table.exit_code == 0, table.output
    assert "cache:stats" in table.output
    row = next(line for line in table.output.splitlines() if "user_profile" in line)
    assert str(profile["hits"]) in row
    assert "total" in table.output


async def test_health_ok_and_down_and_a_dead_redis_fails_loudly(
    cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parsed(await invoke("health", "--json"))["status"] == "ok"
    table = await invoke("health")
    assert table.exit_code == 0
    assert "ok" in table.output

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    down = parsed(await invoke("health", "--json"), exit_code=1)
    assert down["status"] == "down"
    assert down["error"]
    assert (await invoke("health")).exit_code == 1
    stats = await invoke("stats")
    assert stats.exit_code == 1
    assert "Redis unreachable" in stats.output
    flushed = await invoke("flush")
    assert flushed.exit_code == 1
    assert "nothing was flushed" in flushed.output
    warmed = await invoke("warm")
    assert warmed.exit_code == 1
    assert "CacheUnavailable" in warmed.output


async def test_get_shows_a_cached_value_with_its_ttl(
    client: httpx.AsyncClient, cli_env: None
) -> None:
    user, access, _ = await register_user(client)
    assert (await client.get(f"{API}/auth/me", headers=bearer(access))).status_code == 200
    key = f"user:profile:{user['id']}"

    entry = parsed(await invoke("get", key, "--json"))
    assert entry["exists"] is True
    assert entry["kind"] == "value"
    assert entry["value"]["id"] == user["id"]
    assert 0 < entry["ttlMs"] <= 1800 * 1000

    shown = await invoke("get", key)
    assert shown.exit_code == 0, shown.output
    assert user["username"] in shown.output
    assert "kind: value" in shown.output


async def test_get_decodes_a_compressed_value(cli_env: None, clean_redis: Redis) -> None:
    key = f"meeting:details:{uuid.uuid4()}"
    value = {"name": "x" * 5000, "participants": list(range(100))}
    await clean_redis.set(key, codec.encode(value, compress_min_bytes=0), ex=60)

    entry = parsed(await invoke("get", key, "--json"))
    assert entry["kind"] == "compressed"
    assert entry["value"] == value
    assert entry["bytes"] < len(json.dumps(value))


async def test_get_of_a_missing_key_fails(cli_env: None, clean_redis: Redis) -> None:
    result = await invoke("get", "user:profile:nobody")
    assert result.exit_code == 1
    assert "not in the cache" in result.output
    assert parsed(await invoke("get", "user:profile:nobody", "--json"), 1)["exists"] is False


async def test_flush_a_family_then_everything(
    client: httpx.AsyncClient, cli_env: None, clean_redis: Redis
) -> None:
    world = await build_world(client)
    meeting = f"{API}/meetings/{world.meeting_id}"
    for path in (meeting, f"{meeting}/participants", f"{API}/meetings"):
        assert (await client.get(path, headers=world.host_auth)).status_code == 200
    before = await cached_keys(clean_redis)
    details = {k for k in before if k.startswith("meeting:details:")}
    assert details and before - details

    report = parsed(await invoke("flush", "--family", "meeting_details", "--json"))
    assert report["deleted"] == len(details)
    assert await cached_keys(clean_redis) == before - details

    result = await invoke("flush")
    assert result.exit_code == 0, result.output
    assert "of every family" in result.output
    assert await cached_keys(clean_redis) == set()


async def test_flush_of_an_unknown_family_lists_the_valid_ones(cli_env: None) -> None:
    result = await invoke("flush", "--family", "meetings")
    assert result.exit_code == 2
    assert "Unknown cache family 'meetings'" in result.output
    for family in Family:
        assert family.value in result.output


async def test_warm_fills_the_cache_from_the_database(
    client: httpx.AsyncClient, cli_env: None, clean_redis: Redis
) -> None:
    world = await build_world(client)
    await clean_redis.flushdb()

    report = parsed(await invoke("warm", "--json"))
    assert report["meetings"] == 1
    assert {
        f"user:profile:{world.member['id']}",
        f"meeting:joined:{world.member['id']}:page:1:limit:10",
        f"meeting:details:{world.meeting_id}",
        f"public_user:{world.session_id}",
    } <= await cached_keys(clean_redis)

    table = await invoke("warm", "--users", "1")
    assert table.exit_code == 0, table.output
    assert "meeting_details" in table.output
    assert "1 users" in table.output

    assert (await invoke("warm", "--users", "-1")).exit_code == 2
