"""Configuration as an operator meets it: readable errors by variable name, enumerations
checked, and the production guardrails of CONTRACT §2 (refuse a development default)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gomeet.config import ConfigurationError, load_settings

# Everything a production instance must name: a database, a Redis, a real secret.
PRODUCTION = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": "postgresql+asyncpg://gomeet@db.internal:5432/gomeet",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "JWT_SECRET": "a-real-secret-" + "k" * 40,
}
SETTING_PREFIXES = (
    "ENVIRONMENT", "DATABASE_", "REDIS_", "JWT_", "TURN_", "LOG_", "GOMEET_", "CACHE_",
    "RATE_LIMIT_", "WS_", "CORS_", "FORWARDED_", "WEBRTC_", "VAR_DIR", "PASSWORD_HASH_",
)  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No setting from the outer environment, no `.env` in the working directory."""
    for name in list(os.environ):
        if name.upper().startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def problems(clean_env: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return caught.value.problems


def test_a_complete_production_configuration_starts(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        clean_env.setenv(name, value)
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.redis_configured


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("DATABASE_URL", "DATABASE_URL"),
        ("REDIS_URL", "REDIS_URL"),
        ("JWT_SECRET", "JWT_SECRET"),
    ],
)
def test_production_refuses_each_development_default_in_one_line(
    clean_env: pytest.MonkeyPatch, missing: str, named: str
) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    found = problems(clean_env, **env)
    assert len(found) == 1, found
    assert found[0].split(":")[0] == named, found


def test_production_accepts_redis_by_parts_cluster_or_sentinel(
    clean_env: pytest.MonkeyPatch,
) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "REDIS_URL"}
    for name, value in env.items():
        clean_env.setenv(name, value)
    for variable, value in (
        ("REDIS_HOST", "cache.internal"),
        ("REDIS_CLUSTER_URL", "redis://node1.internal:7000"),
        ("REDIS_SENTINEL_URL", "redis+sentinel://sentinel.internal:26379/mymaster"),
    ):
        clean_env.setenv(variable, value)
        assert load_settings().redis_configured
        clean_env.delenv(variable)


@pytest.mark.parametrize("placeholder", ["changeme", "your-secret-key", "", "  SECRET  "])
def test_production_refuses_a_placeholder_jwt_secret(
    clean_env: pytest.MonkeyPatch, placeholder: str
) -> None:
    found = problems(clean_env, **{**PRODUCTION, "JWT_SECRET": placeholder})
    assert [p.split(":")[0] for p in found] == ["JWT_SECRET"]


def test_production_refuses_a_placeholder_turn_secret_while_turn_is_enabled(
    clean_env: pytest.MonkeyPatch,
) -> None:
    turn = {"TURN_ENABLED": "true", "TURN_SERVER": "turn.example.com"}
    found = problems(clean_env, **PRODUCTION, **turn, TURN_SECRET="your-turn-secret-key")
    assert len(found) == 1
    assert found[0].startswith("TURN_SECRET")
    assert "your-turn-secret-key" not in found[0]  # a secret setting's value is never echoed
    # The same placeholder with TURN disabled serves no credential: accepted.
    clean_env.setenv("TURN_ENABLED", "false")
    assert load_settings().turn_secret == "your-turn-secret-key"


def test_every_missing_production_setting_is_named_at_once(clean_env: pytest.MonkeyPatch) -> None:
    found = problems(clean_env, ENVIRONMENT="production")
    assert [p.split(":")[0] for p in found] == ["DATABASE_URL", "REDIS_URL", "JWT_SECRET"]


def test_development_keeps_its_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.environment == "development"
    assert settings.database_url is None
    assert not settings.redis_configured


def test_bad_values_are_named_by_their_environment_variable(
    clean_env: pytest.MonkeyPatch,
) -> None:
    found = problems(
        clean_env, DATABASE_POOL_SIZE="0", LOG_LEVEL="verbose", REDIS_SOCKET_TIMEOUT="soon"
    )
    assert sorted(p.split(":")[0] for p in found) == [
        "DATABASE_POOL_SIZE",
        "LOG_LEVEL",
        "REDIS_SOCKET_TIMEOUT",
    ]
    log_level = next(p for p in found if p.startswith("LOG_LEVEL"))
    assert "'verbose'" in log_level.lower()
    assert "INFO" in log_level  # says what is accepted


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_FORMAT", "xml"),
        ("ENVIRONMENT", "staging"),
        ("GOMEET_CACHE", "maybe"),
        ("DATABASE_URL", "mysql://db/gomeet"),
        ("REDIS_URL", "http://cache:6379"),
    ],
)
def test_enumerations_and_url_schemes_are_checked(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    found = problems(clean_env, **{variable: value})
    assert [p.split(":")[0] for p in found] == [variable]


def test_enumerations_are_case_insensitive(clean_env: pytest.MonkeyPatch) -> None:
    values = {"LOG_LEVEL": "debug", "LOG_FORMAT": "Console", "ENVIRONMENT": "TEST"}
    for name, value in values.items():
        clean_env.setenv(name, value)
    settings = load_settings()
    assert (settings.log_level, settings.log_format, settings.environment) == (
        "DEBUG",
        "console",
        "test",
    )


def test_a_password_in_a_bad_url_is_never_echoed(clean_env: pytest.MonkeyPatch) -> None:
    found = problems(clean_env, DATABASE_URL="mysql://admin:hunter2-secret@db/gomeet")
    assert len(found) == 1
    assert "hunter2-secret" not in found[0]


def gomeet(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "gomeet"
    return subprocess.run(
        [str(script), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_cli_prints_one_line_per_bad_variable_and_no_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(SETTING_PREFIXES)}
    env.update(DATABASE_POOL_SIZE="0", LOG_LEVEL="verbose")
    for command in (["serve"], ["migrate"], ["cache", "stats"], ["users", "promote", "a@b.c"]):
        result = gomeet(*command, env=env, cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 3, result.stderr  # a heading, then one line per variable
        assert lines[1].lstrip().startswith("DATABASE_POOL_SIZE:"), lines
        assert lines[2].lstrip().startswith("LOG_LEVEL:"), lines


def test_serve_in_production_without_a_database_refuses_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(SETTING_PREFIXES)}
    env.update({k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"})
    result = gomeet("serve", "--port", "1", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    named = [line for line in result.stderr.splitlines() if "DATABASE_URL" in line]
    assert len(named) == 1, result.stderr
    assert not (tmp_path / "var").exists()  # nothing was started or written
