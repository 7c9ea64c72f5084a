"""Guests join and leave meetings through `/public-users/join-meeting` and `/leave-meeting`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from helpers import API, bearer, register_user

BASE = f"{API}/public-users"


async def host_meeting(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """A meeting (its id) and its host's Authorization header."""
    _, access, _ = await register_user(client)
    auth = bearer(access)
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = await client.post(
        f"{API}/meetings", json={"name": "Guests welcome", "startTime": start}, headers=auth
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"], auth


async def guest(client: httpx.AsyncClient, session_id: str, name: str) -> dict[str, Any]:
    response = await client.post(BASE, json={"name": name, "sessionId": session_id})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def join(client: httpx.AsyncClient, session_id: str, meeting_id: Any) -> httpx.Response:
    body = {"sessionId": session_id, "meetingId": meeting_id}
    return await client.post(f"{BASE}/join-meeting", json=body)


async def leave(client: httpx.AsyncClient, session_id: str, meeting_id: Any) -> httpx.Response:
    body = {"sessionId": session_id, "meetingId": meeting_id}
    return await client.post(f"{BASE}/leave-meeting", json=body)


async def participants(client: httpx.AsyncClient, meeting_id: str, auth: dict[str, str]) -> Any:
    response = await client.get(f"{API}/meetings/{meeting_id}/participants", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_guest_joins_and_leaves(client: httpx.AsyncClient) -> None:
    meeting_id, host = await host_meeting(client)
    me = await guest(client, "guest:session*1", "Visitor")
    before_public = await client.get(f"{API}/meetings/{meeting_id}/public")
    assert before_public.json()["data"]["participantCount"] == 0
    assert await participants(client, meeting_id, host) == []  # cached, if caching is on

    response = await join(client, "guest:session*1", meeting_id)
    assert response.status_code == 200
    joined = response.json()["data"]
    assert joined["publicUserId"] == me["id"]
    assert joined["userId"] is None
    assert joined["name"] == "Visitor"
    assert joined["isActive"] is True

    listed = await participants(client, meeting_id, host)
    assert [(p["publicUserId"], p["isActive"]) for p in listed] == [(me["id"], True)]
    public = await client.get(f"{API}/meetings/{meeting_id}/public")
    assert public.json()["data"]["participantCount"] == 1

    response = await leave(client, "guest:session*1", meeting_id)
    assert response.status_code == 200
    left = response.json()["data"]
    assert left["id"] == joined["id"]
    assert left["isActive"] is False
    assert left["leftAt"] is not None
    listed = await participants(client, meeting_id, host)
    assert [(p["publicUserId"], p["isActive"]) for p in listed] == [(me["id"], False)]


async def test_joining_twice_is_one_participant(client: httpx.AsyncClient) -> None:
    meeting_id, host = await host_meeting(client)
    await guest(client, "twice", "Guest")
    first = (await join(client, "twice", meeting_id)).json()["data"]
    second = (await join(client, "twice", meeting_id)).json()["data"]
    assert first["id"] == second["id"]
    assert len(await participants(client, meeting_id, host)) == 1


async def test_renamed_guest_joins_under_the_new_name(client: httpx.AsyncClient) -> None:
    meeting_id, _ = await host_meeting(client)
    await guest(client, "renamed", "Old")
    await client.get(f"{BASE}/session/renamed")
    rename = await client.put(f"{BASE}/session/{quote('renamed')}", json={"name": "New"})
    assert rename.status_code == 200
    assert (await join(client, "renamed", meeting_id)).json()["data"]["name"] == "New"


@pytest.mark.parametrize("meeting_id", ["not-a-uuid", "", "123", 42, None])
async def test_bad_meeting_id_is_400(client: httpx.AsyncClient, meeting_id: Any) -> None:
    await guest(client, "bad-meeting", "Guest")
    for response in (
        await join(client, "bad-meeting", meeting_id),
        await leave(client, "bad-meeting", meeting_id),
    ):
        assert response.status_code == 400
        expected = "INVALID_MEETING_ID" if isinstance(meeting_id, str) else "VALIDATION_ERROR"
        assert response.json()["error"]["code"] == expected


@pytest.mark.parametrize(
    "body",
    [{}, {"meetingId": str(uuid.uuid4())}, {"sessionId": "s"}, {"sessionId": "", "meetingId": ""}],
)
async def test_incomplete_bodies_are_400(client: httpx.AsyncClient, body: Any) -> None:
    for path in ("join-meeting", "leave-meeting"):
        response = await client.post(f"{BASE}/{path}", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_unknown_session_is_404(client: httpx.AsyncClient) -> None:
    meeting_id, _ = await host_meeting(client)
    for response in (
        await join(client, "nobody", meeting_id),
        await leave(client, "nobody", meeting_id),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_unknown_meeting_is_404(client: httpx.AsyncClient) -> None:
    await guest(client, "lost", "Guest")
    unknown = str(uuid.uuid4())
    for response in (await join(client, "lost", unknown), await leave(client, "lost", unknown)):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "MEETING_NOT_FOUND"


async def test_leaving_a_meeting_never_joined_is_404(client: httpx.AsyncClient) -> None:
    meeting_id, _ = await host_meeting(client)
    await guest(client, "stranger", "Guest")
    response = await leave(client, "stranger", meeting_id)
    assert response.status_code == 404
