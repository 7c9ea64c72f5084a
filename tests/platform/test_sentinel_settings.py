"""`REDIS_SENTINEL_URL` (CONTRACT §2): several sentinels, the master's and the sentinels'
passwords, and a malformed value refused with one readable line naming the variable (no
traceback, never the value: it may hold a password). The CLI works through Sentinel."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from gomeet.cli import app
from gomeet.config import Settings
from gomeet.sentinel_url import SentinelConfig, parse_sentinel_url
from support.sentinel import SentinelTopology

REDIS_SETTINGS = ("REDIS_URL", "REDIS_HOST", "REDIS_CLUSTER_URL", "REDIS_SENTINEL_URL")


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, environment="test", **values)  # type: ignore[arg-type]


def test_a_url_with_three_sentinels_the_master_a_database_and_both_passwords() -> None:
    url = (
        "redis+sentinel://:p%40ss%3Aw%2Frd@10.0.0.1:26379,sentinel-2,[::1]:26380"
        "/orders/3?sentinel_password=s%26cret"
    )
    config = parse_sentinel_url(url)
    assert config.sentinels == (("10.0.0.1", 26379), ("sentinel-2", 26379), ("::1", 26380))
    assert (config.master, config.db) == ("orders", 3)
    assert config.password == "p@ss:w/rd"
    assert config.sentinel_password == "s&cret"
    assert "p@ss" not in repr(config) and "s&cret" not in repr(config)
    assert config.addresses == "10.0.0.1:26379,sentinel-2:26379,[::1]:26380"


def test_a_plain_list_takes_the_rest_from_the_other_settings() -> None:
    resolved = settings(
        redis_sentinel_url=" h1:26379, h2:26380 ,h3 ",
        redis_sentinel_master="payments",
        redis_password="master-secret",
        redis_sentinel_password="sentinel-secret",
        redis_db=2,
    ).redis_sentinel
    assert resolved == SentinelConfig(
        (("h1", 26379), ("h2", 26380), ("h3", 26379)),
        master="payments",
        db=2,
        password="master-secret",
        sentinel_password="sentinel-secret",
    )


def test_what_the_url_names_wins_over_the_settings() -> None:
    resolved = settings(
        redis_sentinel_url="redis+sentinel://user:pw@h1/orders/1",
        redis_sentinel_master="payments",
        redis_password="other",
        redis_db=5,
    ).redis_sentinel
    assert resolved is not None
    assert (resolved.master, resolved.db, resolved.username, resolved.password) == (
        "orders",
        1,
        "user",
        "pw",
    )
    assert settings(redis_sentinel_url="redis+sentinel://h1/").redis_sentinel == SentinelConfig(
        (("h1", 26379),), master="mymaster", db=0
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("redis://:topsecret@h1:26379", "unknown scheme 'redis'"),
        ("redis+sentinel://:topsecret@h1:26379,,h2/m", "an empty sentinel address"),
        ("redis+sentinel://:topsecret@h1:port/m", "the port must be a number"),
        ("h1:70000", "the port must be a number 1-65535"),
        ("redis+sentinel://:topsecret@/m", "no sentinel address"),
        ("redis+sentinel://h_1 x:26379/m", "no valid host name"),
        ("redis+sentinel://h1/m/x", "database 'x' is not a number"),
        ("redis+sentinel://h1/m/0/extra", "the path has 3 parts"),
        ("redis+sentinel://h1/m?password=topsecret", "unknown query parameter 'password'"),
        ("redis+sentinel://h1/my master", "master name"),
        ("[::1:26379", "is not [ipv6]:port"),
    ],
)
def test_a_malformed_value_is_refused_saying_what_is_wrong(value: str, says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(redis_sentinel_url=value)
    (error,) = raised.value.errors()
    assert error["loc"] == ("redis_sentinel_url",)
    assert says in error["msg"]
    assert "topsecret" not in error["msg"]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (*REDIS_SETTINGS, "GOMEET_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_cli_refuses_a_malformed_value_in_one_line_without_a_traceback(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_"))}
    env["REDIS_SENTINEL_URL"] = "redis+sentinel://:topsecret@h1:26379,h2:x/mymaster"
    script = Path(sys.executable).parent / "gomeet"
    for command in (["cache", "stats"], ["migrate"], ["serve"]):
        result = subprocess.run(
            [str(script), *command], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        problems = [line.strip() for line in result.stderr.strip().splitlines()[1:]]
        assert problems == [
            "REDIS_SENTINEL_URL: sentinel address 'h2:x': the port must be a number 1-65535"
        ], result.stderr
        assert "Traceback" not in result.stderr and "topsecret" not in result.stderr


async def test_the_cache_commands_work_through_sentinel(
    cli_env: pytest.MonkeyPatch, sentinel: SentinelTopology
) -> None:
    cli_env.setenv("REDIS_SENTINEL_URL", sentinel.url)

    def invoke(*args: str) -> dict[str, object]:
        result = CliRunner().invoke(app, ["cache", *args, "--json"])
        assert result.exit_code == 0, result.output
        data: dict[str, object] = json.loads(result.stdout)
        return data

    health = await asyncio.to_thread(invoke, "health")
    assert health["status"] == "ok", health
    stats = await asyncio.to_thread(invoke, "stats")
    assert stats["source"] == "redis"
