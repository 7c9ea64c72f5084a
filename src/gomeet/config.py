"""One typed Settings object, read from the environment or a `.env` file."""

from __future__ import annotations

import os
import re
import secrets
import time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "secret", "changeme", "change-me", "changethis", "your-secret-key", "jwt-secret"}
)

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object) -> float:
    """Accept seconds as a number or a Go-style duration string: `900`, `15m`, `168h`."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 900, 15m, 168h)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _read_secret(path: Path, attempts: int = 100) -> str:
    """The secret another process created; it may still be writing it (an empty file)."""
    for _ in range(attempts):
        secret = path.read_text().strip()
        if secret:
            return secret
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it, or set JWT_SECRET")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    environment: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")

    database_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1)

    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int = 6379
    redis_password: str | None = None
    redis_db: int = 0
    redis_cluster_url: str | None = None
    redis_sentinel_url: str | None = None
    redis_sentinel_master: str = "mymaster"
    redis_socket_timeout: Duration = 0.25
    # Longer than the command timeout: a burst of new connections on a busy event loop must
    # not look like a dead Redis (a refused connection still fails at once).
    redis_connect_timeout: Duration = 1.0
    redis_max_connections: int = Field(default=64, ge=1)

    gomeet_cache: bool = True
    gomeet_cache_l1: bool = False
    gomeet_cache_l1_max_items: int = Field(default=10_000, ge=1)
    gomeet_cache_l1_ttl: Duration = 5.0
    cache_ttl_user_profile: int = Field(default=1800, ge=1)
    cache_ttl_meeting_details: int = Field(default=900, ge=1)
    cache_ttl_participant_list: int = Field(default=600, ge=1)
    cache_ttl_feature_flag: int = Field(default=300, ge=1)
    cache_ttl_public_user: int = Field(default=1800, ge=1)
    cache_ttl_meeting_list: int = Field(default=300, ge=1)
    cache_ttl_meeting_joined: int = Field(default=300, ge=1)
    cache_ttl_meeting_upcoming: int = Field(default=300, ge=1)
    cache_ttl_meeting_past: int = Field(default=300, ge=1)
    cache_warm_on_start: bool = False  # warm the cache in the background at startup

    jwt_secret: str | None = None
    jwt_access_token_expiry: Duration = 15 * 60
    jwt_refresh_token_expiry: Duration = 168 * 3600
    # argon2id cost; tests lower these so that the suite stays fast.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)

    rate_limit_enabled: bool = True
    rate_limit_general_requests: int = Field(default=100, ge=1)
    rate_limit_general_window: Duration = 60
    rate_limit_auth_requests: int = Field(default=5, ge=1)
    rate_limit_auth_window: Duration = 60
    rate_limit_authenticated_requests: int = Field(default=1000, ge=1)
    rate_limit_authenticated_window: Duration = 60

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    @model_validator(mode="after")
    def _refuse_placeholder_secret_in_production(self) -> Settings:
        if self.environment == "production" and (
            self.jwt_secret is None or self.jwt_secret.strip().lower() in PLACEHOLDER_SECRETS
        ):
            raise ValueError("JWT_SECRET must be set to a real secret when ENVIRONMENT=production")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.var_dir / 'gomeet.db'}"

    @property
    def redis_configured(self) -> bool:
        """True when the operator named a Redis; otherwise `serve` starts an embedded one."""
        return bool(
            self.redis_url or self.redis_host or self.redis_cluster_url or self.redis_sentinel_url
        )

    @cached_property
    def effective_jwt_secret(self) -> str:
        """The configured secret, or in development one generated once and kept under var/.

        The file is created with `O_EXCL`, so that of several processes starting at once
        exactly one writes it and the others read that one (`gomeet serve` also resolves it
        once and hands it to its workers as `JWT_SECRET`).
        """
        if self.jwt_secret and self.jwt_secret.strip().lower() not in PLACEHOLDER_SECRETS:
            return self.jwt_secret
        path = self.var_dir / "jwt_secret"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return _read_secret(path)
        with os.fdopen(fd, "w") as file:
            file.write(secret)
        return secret

    def cache_ttl(self, family: str) -> int:
        ttl: int = getattr(self, f"cache_ttl_{family}")
        return ttl
