"""Helpers for the cache operator tests: an admin, a small data set, Redis snapshots."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import update

from gomeet.auth.models import Role, User
from gomeet.cache.keys import PREFIXES
from helpers import API, bearer, register_user

ADMIN_CACHE = f"{API}/admin/cache"


async def make_admin(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, str]]:
    """A registered user given the admin role in the database; its cached profile dropped."""
    user, access, _ = await register_user(client)
    app = client.app  # type: ignore[attr-defined]
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(User).where(User.id == uuid.UUID(user["id"])).values(role=Role.ADMIN.value)
        )
    await app.state.cache.invalidate_user_profile(user["id"])
    return user, bearer(access)


def data_of(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    return error


@dataclass
class World:
    """A host with an upcoming meeting in progress, a user and a guest who joined it."""

    host: dict[str, Any]
    host_auth: dict[str, str]
    member: dict[str, Any]
    member_auth: dict[str, str]
    meeting_id: str
    session_id: str


async def build_world(client: httpx.AsyncClient) -> World:
    host, host_access, _ = await register_user(client)
    member, member_access, _ = await register_user(client)
    host_auth, member_auth = bearer(host_access), bearer(member_access)
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    created = await client.post(
        f"{API}/meetings", json={"name": "Planning", "startTime": start}, headers=host_auth
    )
    meeting_id = data_of(created, 201)["id"]
    data_of(await client.patch(f"{API}/meetings/{meeting_id}/start", headers=host_auth))
    data_of(await client.post(f"{API}/meetings/{meeting_id}/join", headers=member_auth))
    session_id = f"guest-{uuid.uuid4().hex}"
    guest = {"name": "Guest", "sessionId": session_id}
    data_of(await client.post(f"{API}/public-users", json=guest), 201)
    joined = await client.post(
        f"{API}/public-users/join-meeting", json={"sessionId": session_id, "meetingId": meeting_id}
    )
    assert joined.status_code in (200, 201), joined.text
    return World(host, host_auth, member, member_auth, meeting_id, session_id)


async def cached_keys(redis: Redis) -> set[str]:
    """Every key of a cache family in Redis (list-page owner indexes included)."""
    names = {k.decode() for k in await redis.keys("*")}
    prefixes = (*PREFIXES.values(), "index:")
    return {n for n in names if n.startswith(prefixes)}
