"""Secrets never leak: a full API run (every cell of the authorization matrix: all
endpoints, as every kind of caller, refusals included, the WebSocket handshakes included,
plus TURN credentials and failed logins), logged at DEBUG, against a Redis with a password.

- no log line holds a password, an access or refresh token (forged ones included), a TURN
  credential or secret, a guest session id, the JWT secret or the Redis password;
- no Redis key or value holds a password hash (`$argon2`), a password or a token;
- the `/metrics` text holds no session id and no token.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from redis.asyncio import Redis
from test_authorization_matrix import KINDS, MATRIX, World, build_world, status_of

from conformance.conformance_helpers import ThreadedServer
from gomeet.app import create_app
from gomeet.config import Settings
from helpers import API, DEFAULT_PASSWORD

REDIS_PASSWORD = "redis-pass-" + uuid.uuid4().hex
TURN_SECRET = "turn-shared-secret-" + uuid.uuid4().hex
SECRET_FIELDS = {
    "password", "currentPassword", "newPassword", "accessToken", "refreshToken",
    "credential", "sessionId",
}  # fmt: skip


class Secrets:
    """Every secret value that went over the wire, from request and response bodies."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def collect(self, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in SECRET_FIELDS and isinstance(item, str):
                    self.values.add(item)
                self.collect(item)
        elif isinstance(value, list):
            for item in value:
                self.collect(item)

    async def on_request(self, request: httpx.Request) -> None:
        if request.content:
            with contextlib.suppress(ValueError):
                self.collect(json.loads(request.content))
        path = unquote(request.url.path)
        if "/public-users/session/" in path:
            self.values.add(path.rsplit("/session/", 1)[1])

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        with contextlib.suppress(ValueError):
            self.collect(response.json())


@contextlib.asynccontextmanager
async def password_on(redis: Redis, url: str) -> AsyncIterator[Redis]:
    """The test Redis requires REDIS_PASSWORD for the block; a client that gives it."""
    await redis.config_set("requirepass", REDIS_PASSWORD)
    authenticated = Redis.from_url(url)
    try:
        yield authenticated
    finally:
        await authenticated.config_set("requirepass", "")
        await authenticated.aclose()


def with_password(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f":{REDIS_PASSWORD}@{parts.hostname}:{parts.port}").geturl()


async def redis_contents(redis: Redis) -> Iterator[tuple[str, bytes]]:
    """Every key, with each of its values (whatever the type)."""
    found: list[tuple[str, bytes]] = []
    async for raw in redis.scan_iter(count=1000):
        key = raw.decode()
        kind = (await redis.type(raw)).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [await redis.get(raw) or b""]
        elif kind == "hash":
            values = [b for pair in (await redis.hgetall(raw)).items() for b in pair]
        elif kind == "zset":
            values = await redis.zrange(raw, 0, -1)
        elif kind == "set":
            values = list(await redis.smembers(raw))
        elif kind == "list":
            values = await redis.lrange(raw, 0, -1)
        elif kind == "stream":
            entries = await redis.xrange(raw)
            values = [b for _, fields in entries for pair in fields.items() for b in pair]
        found += [(key, value) for value in values] or [(key, b"")]
    return iter(found)


async def test_no_secret_in_logs_redis_or_metrics(
    app_client: Any,
    make_settings: Callable[..., Settings],
    clean_redis: Redis,
    redis_url: str,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with password_on(clean_redis, with_password(redis_url)) as redis:
        settings = make_settings(
            redis_url=with_password(redis_url),
            log_level="DEBUG",
            ws_allow_anonymous=False,
            turn_enabled=True,
            turn_server="turn.example.com",
            turn_secret=TURN_SECRET,
        )
        secrets = Secrets()
        hooks = {"request": [secrets.on_request], "response": [secrets.on_response]}
        capsys.readouterr()
        with ThreadedServer(create_app(settings)) as server:
            client = httpx.AsyncClient(base_url=server.url, event_hooks=hooks, timeout=30)
            async with client as http:
                world = World(http, server.url, settings, database_url, settings.redis_url or "")
                await build_world(world)
                for row in MATRIX:
                    for kind in KINDS:
                        await status_of(world, row, kind)
                host = {"Authorization": f"Bearer {world.tokens['host']}"}
                ice = await http.get(f"{API}/turn/ice-servers", headers=host)
                assert any("credential" in s for s in ice.json()["data"]["iceServers"])
                wrong = {"email": world.users["host"]["email"], "password": "Wr0ng-Passw0rd!x"}
                assert (await http.post(f"{API}/auth/login", json=wrong)).status_code == 401
                metrics = (await http.get("/metrics")).text
            contents = list(await redis_contents(redis))
        logged = capsys.readouterr()

    secrets.values |= set(world.tokens.values()) | {world.session_id, DEFAULT_PASSWORD}
    secrets.values |= {"Wr0ng-Passw0rd!x", TURN_SECRET, REDIS_PASSWORD}
    secrets.values.add(settings.effective_jwt_secret)
    secrets.values = {s for s in secrets.values if len(s) >= 8}  # "x", "G": not secrets
    tokens = {s for s in secrets.values if s.count(".") == 2 and s.startswith("eyJ")}
    lines = (logged.out + logged.err).splitlines()
    print(
        f"\nsecrets: {len(secrets.values)} secret values ({len(tokens)} tokens) searched in "
        f"{len(lines)} log lines, {len(contents)} Redis entries, {len(metrics)} bytes of /metrics"
    )
    assert len(lines) > 1000  # the run was logged (access records, cache debug records)
    assert len(tokens) > 50
    leaked = [(s, line) for line in lines for s in secrets.values if s in line]
    assert leaked == []

    passwords = {DEFAULT_PASSWORD, "Wr0ng-Passw0rd!x", REDIS_PASSWORD, TURN_SECRET}
    in_redis = [
        (key, value[:80])
        for key, value in contents
        for text in (key.encode(), value)
        if b"$argon2" in text or any(s.encode() in text for s in tokens | passwords)
    ]
    assert in_redis == []
    assert any(key.startswith("user:profile:") for key, _ in contents)  # profiles are cached

    assert "gomeet_http_requests_total" in metrics
    assert [s for s in secrets.values if s in metrics] == []
