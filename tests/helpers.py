"""Test helpers shared by every domain's tests: registering users and bearer headers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from gomeet.cache import Family

DEFAULT_PASSWORD = "Str0ng-Passw0rd!x"
API = "/api/v1"


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
