"""Test helpers shared by every domain's tests: registering users, bearer headers, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import event

from gomeet.cache import Family

DEFAULT_PASSWORD = "Str0ng-Passw0rd!x"
API = "/api/v1"


def gomeet_command() -> list[str]:
    """The `gomeet` command of this environment (its script, or the module)."""
    script = Path(sys.executable).parent / "gomeet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gomeet.cli"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for an access token."""
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: httpx.AsyncClient,
    *,
    username: str | None = None,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
) -> dict[str, Any]:
    """Register a fresh user; returns the response `data`: `{user, accessToken, refreshToken}`."""
    suffix = uuid.uuid4().hex[:10]
    username = username or f"user_{suffix}"
    email = email or f"{username.lower()}@example.com"
    response = await client.post(
        f"{API}/auth/register",
        json={"username": username, "email": email, "password": password},
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def register_user(
    client: httpx.AsyncClient, **kwargs: Any
) -> tuple[dict[str, Any], str, str]:
    """Like `register`, unpacked: `(user_json, access_token, refresh_token)`."""
    data = await register(client, **kwargs)
    return data["user"], data["accessToken"], data["refreshToken"]


async def login(
    client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> dict[str, Any]:
    """Log in; returns the response `data`: `{user, accessToken, refreshToken}`."""
    response = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


# CONTRACT §4: the nominal TTL of each family, in seconds.
NOMINAL_TTL: dict[Family, int] = {
    Family.USER_PROFILE: 1800,
    Family.MEETING_DETAILS: 900,
    Family.PARTICIPANT_LIST: 600,
    Family.FEATURE_FLAG: 300,
    Family.PUBLIC_USER: 1800,
    Family.MEETING_LIST: 300,
    Family.MEETING_JOINED: 300,
    Family.MEETING_UPCOMING: 300,
    Family.MEETING_PAST: 300,
}


async def scrape(client: httpx.AsyncClient) -> list[Sample]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sample with exactly these labels (`le` aside); 0 when absent."""
    for s in samples:
        if s.name == name and {k: v for k, v in s.labels.items() if k != "le"} == labels:
            return s.value
    return 0.0


async def outbox_applied(client: httpx.AsyncClient, within_s: float = 15.0) -> None:
    """Returns once every write's invalidations are applied (no outbox record left): a key
    filled after this is not deleted by an invalidation still on its way."""
    outbox = client.app.state.outbox  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + within_s
    while await outbox.backlog():
        assert asyncio.get_running_loop().time() < deadline, "the outbox was not applied"
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def count_sql(client: httpx.AsyncClient) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends while the block runs (not counting the
    outbox drain, which polls in the background)."""
    engine = client.app.state.engine.sync_engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, *_: Any
    ) -> None:
        if not context.execution_options.get("gomeet_background"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
