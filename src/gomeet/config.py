"""One typed Settings object, read from the environment or a `.env` file."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gomeet.sentinel_url import SentinelConfig, parse_sentinel_url

# Known placeholders (compared stripped and lower-cased): refused in production.
PLACEHOLDER_SECRETS = frozenset(
    {"", "secret", "changeme", "change-me", "changethis", "your-secret-key", "jwt-secret",
     "your-turn-secret-key", "turn-secret"}
)  # fmt: skip
# Settings whose values are never echoed in an error: secrets, and URLs (they may hold one).
_SECRET_SETTING = re.compile(r"secret|password|url", re.I)
DATABASE_SCHEMES = ("postgresql+asyncpg://", "sqlite+aiosqlite://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

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


def parse_list(value: object) -> object:
    """A comma-separated list (`a,b , c`); empty items are dropped. Lists pass through."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# A list setting written as one comma-separated string in the environment (not JSON).
CommaList = Annotated[list[str], NoDecode, BeforeValidator(parse_list)]


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
]

DEVELOPMENT_CORS_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")
DEFAULT_STUN_SERVERS = (
    "stun:stun.l.google.com:19302",
    "stun:stun1.l.google.com:19302",
    "stun:stun2.l.google.com:19302",
    "stun:stun.microsoft.com:3478",
)


def _read_secret(path: Path, attempts: int = 100) -> str:
    """The secret another process created; it may still be writing it (an empty file)."""
    for _ in range(attempts):
        secret = path.read_text().strip()
        if secret:
            return secret
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it, or set JWT_SECRET")


def is_placeholder(secret: str | None) -> bool:
    return secret is None or secret.strip().lower() in PLACEHOLDER_SECRETS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    environment: Annotated[
        Literal["development", "test", "production"], BeforeValidator(_lower)
    ] = "development"
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
    redis_sentinel_password: str | None = None  # the sentinels' own (`requirepass`)
    redis_socket_timeout: Duration = 0.25
    # Longer than the command timeout: a burst of new connections on a busy event loop must
    # not look like a dead Redis (a refused connection still fails at once).
    redis_connect_timeout: Duration = 1.0
    redis_max_connections: int = Field(default=64, ge=1)
    # Opened at start-up (on each primary of a cluster), as a running server has them: a
    # burst right after a start then sets up no connection (each set-up is loop time).
    redis_warm_connections: int = Field(default=64, ge=0)

    gomeet_cache: bool = True
    gomeet_cache_l1: bool = False
    gomeet_cache_l1_max_items: int = Field(default=10_000, ge=1)
    gomeet_cache_l1_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
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
    cache_ttl_auto: bool = False  # apply the TTL advice automatically (agreed via Redis)

    jwt_secret: str | None = None
    jwt_access_token_expiry: Duration = 15 * 60
    jwt_refresh_token_expiry: Duration = 168 * 3600
    # An already-rotated refresh token presented within this long of its rotation is refused
    # without revoking anything (two tabs racing); later, reuse revokes every session.
    jwt_refresh_reuse_leeway: Duration = Field(default=30, ge=0)
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

    # Set by `gomeet serve` for its workers: where they exchange metrics (one scrape of
    # /metrics reports them all). Unset: this process's metrics only.
    gomeet_metrics_dir: Path | None = None

    log_level: LogLevel = "INFO"
    log_format: Annotated[Literal["json", "console"], BeforeValidator(_lower)] = "json"

    # Browser origins allowed to call the API and open its WebSocket (CONTRACT §2). None:
    # the web client's dev server in development and test, nothing in production.
    cors_origins: CommaList | None = None
    # Proxies whose X-Forwarded-For is trusted for the client address (loopback by default).
    forwarded_allow_ips: CommaList = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    # Real-time signaling (CONTRACT §6).
    ws_allow_anonymous: bool = True
    ws_max_participants: int = Field(default=50, ge=1)
    ws_max_message_bytes: int = Field(default=65536, ge=1024)
    # Protocol pings (sent by the server, uvicorn): the interval, and how long a ping may go
    # unanswered before the connection is closed and its departure reported.
    ws_ping_interval: Duration = Field(default=25, gt=0)
    ws_ping_timeout: Duration = Field(default=60, gt=0)
    # Per-connection message rate: sustained per second, burst, and how long a connection
    # may stay over it (messages refused) before it is closed with 1008.
    ws_rate_limit_per_second: float = Field(default=50, gt=0)
    ws_rate_limit_burst: int = Field(default=200, ge=1)
    ws_rate_limit_grace: Duration = Field(default=10, gt=0)
    ws_send_queue_size: int = Field(default=256, ge=256)
    # How long an instance stays "alive" in the Redis registry without renewing it: the
    # connections of an instance that died (SIGKILL) are reported as departed after about this.
    ws_instance_ttl: Duration = Field(default=10, ge=1)

    # ICE servers for WebRTC (CONTRACT §6.12).
    webrtc_stun_servers: CommaList = Field(default_factory=lambda: list(DEFAULT_STUN_SERVERS))
    turn_enabled: bool = False
    turn_server: str | None = None  # a host name, not a URL
    turn_port: int = Field(default=3478, ge=1, le=65535)
    turn_tls_port: int = Field(default=5349, ge=1, le=65535)
    turn_secret: str | None = None
    turn_credential_ttl: int = Field(default=86400, ge=60)
    turn_max_bandwidth: int = Field(default=64000, ge=0)
    turn_total_bandwidth: int = Field(default=10_000_000, ge=0)

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(DATABASE_SCHEMES):
            raise ValueError(f"must start with {' or '.join(DATABASE_SCHEMES)}")
        return value

    @field_validator("redis_url", "redis_cluster_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(REDIS_SCHEMES):
            raise ValueError(f"must start with {', '.join(REDIS_SCHEMES)}")
        return value

    @field_validator("redis_sentinel_url")
    @classmethod
    def _readable_sentinel_url(cls, value: str | None) -> str | None:
        """Refused at start-up, with what is wrong (never the value: it may hold a password)."""
        if value is None or not value.strip():
            return None
        parse_sentinel_url(value)
        return value.strip()

    @model_validator(mode="after")
    def _production_guardrails(self) -> Settings:
        """CONTRACT §2: production never falls back to a development default. One line per
        problem, each starting with the variable's name (see `describe`)."""
        if self.environment != "production":
            return self
        problems = []
        if not self.database_url:
            problems.append(
                "DATABASE_URL: must be set when ENVIRONMENT=production "
                "(the development default is SQLite under VAR_DIR)"
            )
        if not self.redis_configured:
            problems.append(
                "REDIS_URL: must be set (or REDIS_HOST, REDIS_CLUSTER_URL, REDIS_SENTINEL_URL) "
                "when ENVIRONMENT=production: an embedded Redis is private to one instance"
            )
        if is_placeholder(self.jwt_secret):
            problems.append("JWT_SECRET: must be set to a real secret when ENVIRONMENT=production")
        if self.turn_enabled and self.turn_secret is not None and is_placeholder(self.turn_secret):
            problems.append(
                "TURN_SECRET: is a placeholder; set a real secret when ENVIRONMENT=production "
                "and TURN_ENABLED=true"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def allowed_origins(self) -> list[str]:
        """`CORS_ORIGINS` (as browsers send an `Origin`: no trailing `/`, lower case), or its
        environment's default."""
        if self.cors_origins is not None:
            return [origin.rstrip("/").lower() for origin in self.cors_origins]
        return [] if self.environment == "production" else list(DEVELOPMENT_CORS_ORIGINS)

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

    @property
    def redis_sentinel(self) -> SentinelConfig | None:
        """`REDIS_SENTINEL_URL` resolved: what the URL leaves out comes from
        `REDIS_SENTINEL_MASTER`, `REDIS_DB`, `REDIS_PASSWORD`, `REDIS_SENTINEL_PASSWORD`."""
        if not self.redis_sentinel_url:
            return None
        parsed = parse_sentinel_url(self.redis_sentinel_url)
        return dataclasses.replace(
            parsed,
            master=parsed.master or self.redis_sentinel_master,
            db=self.redis_db if parsed.db is None else parsed.db,
            password=parsed.password or self.redis_password,
            sentinel_password=parsed.sentinel_password or self.redis_sentinel_password,
        )

    @cached_property
    def effective_jwt_secret(self) -> str:
        """The configured secret, or in development one generated once and kept under var/.

        The file is created with `O_EXCL`, so that of several processes starting at once
        exactly one writes it and the others read that one (`gomeet serve` also resolves it
        once and hands it to its workers as `JWT_SECRET`).
        """
        if self.jwt_secret and not is_placeholder(self.jwt_secret):
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


class ConfigurationError(Exception):
    """Settings that cannot be used: one line per problem, each naming its variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def describe(error: ValidationError) -> list[str]:
    """`VARIABLE: what is wrong (got 'value')`, by environment name; secrets not echoed."""
    lines: list[str] = []
    for detail in error.errors(include_url=False):
        message = detail["msg"].removeprefix("Value error, ")
        if not detail["loc"]:  # a check across settings: its lines name their variables
            lines.extend(message.splitlines())
            continue
        name = str(detail["loc"][0]).upper()
        value = detail.get("input")
        shown = isinstance(value, str | int | float) and not _SECRET_SETTING.search(name)
        lines.append(f"{name}: {message}" + (f" (got {value!r})" if shown else ""))
    return lines


def load_settings(**overrides: object) -> Settings:
    """`Settings()`, raising `ConfigurationError` (readable lines) instead of pydantic's."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(describe(exc)) from None
