"""Create, read, update, delete, start and end a meeting: success, validation, authorization."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from meeting_helpers import (
    MEETINGS,
    create_meeting,
    data_of,
    error_code,
    iso,
    new_user,
    participant_rows,
)

START_TIME = "2031-05-04T10:30:00+00:00"
MEETING_FIELDS = {
    "id",
    "name",
    "title",
    "description",
    "duration",
    "startTime",
    "hostId",
    "isActive",
    "host",
    "participants",
    "createdAt",
    "updatedAt",
}
PARTICIPANT_FIELDS = {
    "id",
    "userId",
    "publicUserId",
    "name",
    "avatarUrl",
    "isActive",
    "joinedAt",
    "leftAt",
}


async def test_create_returns_the_meeting_with_host_and_named_participants(
    client: httpx.AsyncClient,
) -> None:
    user, auth = await new_user(client)
    response = await client.post(
        MEETINGS,
        json={
            "name": "  Planning  ",
            "startTime": "2031-05-04T10:30:00+02:00",
            "participants": [{"name": "Ada", "avatarUrl": "https://x.test/a.png"}, {"name": "Bo"}],
        },
        headers=auth,
    )
    meeting = data_of(response, 201)
    assert set(meeting) == MEETING_FIELDS
    uuid.UUID(meeting["id"])
    assert meeting["name"] == meeting["title"] == "Planning"
    assert (meeting["description"], meeting["duration"]) == (None, None)
    assert datetime.fromisoformat(meeting["startTime"]) == datetime.fromisoformat(
        "2031-05-04T08:30:00+00:00"
    )
    assert datetime.fromisoformat(meeting["startTime"]).utcoffset() == timedelta(0)
    assert meeting["hostId"] == user["id"]
    assert meeting["isActive"] is False
    assert meeting["host"] == {
        "id": user["id"],
        "username": user["username"],
        "avatarUrl": user["avatarUrl"],
    }
    participants = meeting["participants"]
    assert [p["name"] for p in participants] == ["Ada", "Bo"]
    assert all(set(p) == PARTICIPANT_FIELDS for p in participants)
    assert participants[0]["avatarUrl"] == "https://x.test/a.png"
    assert participants[1]["avatarUrl"] is None
    assert all(p["userId"] is None and p["publicUserId"] is None for p in participants)
    assert all(p["isActive"] and p["leftAt"] is None for p in participants)

    fetched = data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))
    assert fetched == meeting


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"startTime": "2031-01-01T10:00:00Z"}, "name"),
        ({"name": "x"}, "startTime"),
        ({"name": "", "startTime": "2031-01-01T10:00:00Z"}, "name"),
        ({"name": "   ", "startTime": "2031-01-01T10:00:00Z"}, "name"),
        ({"name": "x" * 201, "startTime": "2031-01-01T10:00:00Z"}, "name"),
        ({"name": 42, "startTime": "2031-01-01T10:00:00Z"}, "name"),
        ({"name": "x", "startTime": "2031-01-01T10:00:00"}, "startTime"),
        ({"name": "x", "startTime": "2031-01-01"}, "startTime"),
        ({"name": "x", "startTime": "tomorrow"}, "startTime"),
        ({"name": "x", "startTime": "2031-13-01T10:00:00Z"}, "startTime"),
        ({"name": "x", "startTime": 1_900_000_000}, "startTime"),
        # Valid offsets whose UTC time is outside what a date-time can hold.
        ({"name": "x", "startTime": "0001-01-01T00:00:00+05:00"}, "startTime"),
        ({"name": "x", "startTime": "9999-12-31T23:00:00-14:00"}, "startTime"),
        # Control characters are refused in free text (PostgreSQL cannot store NUL).
        ({"name": "nul\x00", "startTime": "2031-01-01T10:00:00Z"}, "name"),
        ({"name": "two\nlines", "startTime": "2031-01-01T10:00:00Z"}, "name"),
        ({"name": "bell\x07", "startTime": "2031-01-01T10:00:00Z"}, "name"),
        (
            {"name": "x", "startTime": "2031-01-01T10:00:00Z", "participants": [{"name": "a\x00"}]},
            "participants",
        ),
        # A participant's avatar is shown publicly: an http(s) URL only.
        (
            {
                "name": "x",
                "startTime": "2031-01-01T10:00:00Z",
                "participants": [{"name": "Ada", "avatarUrl": "javascript:alert(1)"}],
            },
            "participants",
        ),
        ({"name": "x", "startTime": "2031-01-01T10:00:00Z", "participants": "Ada"}, "participants"),
        ({"name": "x", "startTime": "2031-01-01T10:00:00Z", "participants": [{}]}, "participants"),
        (
            {
                "name": "x",
                "startTime": "2031-01-01T10:00:00Z",
                "participants": [{"name": "y" * 101}],
            },
            "participants",
        ),
        # title (another spelling of name), description and duration
        ({"name": "One", "title": "Two", "startTime": START_TIME}, ""),
        ({"startTime": START_TIME}, "name"),
        ({"title": "", "startTime": START_TIME}, "name"),
        ({"title": "x" * 201, "startTime": START_TIME}, "name"),
        ({"title": "tab\there", "startTime": START_TIME}, "name"),
        ({"name": "ok", "title": 5, "startTime": START_TIME}, "title"),
        ({"name": "x", "startTime": START_TIME, "description": "x" * 2001}, "description"),
        ({"name": "x", "startTime": START_TIME, "description": "nul\x00"}, "description"),
        ({"name": "x", "startTime": START_TIME, "description": "esc\x1b[31m"}, "description"),
        ({"name": "x", "startTime": START_TIME, "description": 5}, "description"),
        ({"name": "x", "startTime": START_TIME, "duration": 0}, "duration"),
        ({"name": "x", "startTime": START_TIME, "duration": 1441}, "duration"),
        ({"name": "x", "startTime": START_TIME, "duration": -30}, "duration"),
        ({"name": "x", "startTime": START_TIME, "duration": 30.5}, "duration"),
        ({"name": "x", "startTime": START_TIME, "duration": "30"}, "duration"),
        ({"name": "x", "startTime": START_TIME, "duration": True}, "duration"),
        ({"name": "x", "startTime": START_TIME, "duration": 10**30}, "duration"),
    ],
)
async def test_create_rejects_bad_bodies_with_400(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    _, auth = await new_user(client)
    response = await client.post(MEETINGS, json=body, headers=auth)
    assert error_code(response, 400) == "VALIDATION_ERROR"
    assert any(e["field"].startswith(field) for e in response.json()["error"]["details"])
    assert data_of(await client.get(MEETINGS, headers=auth))["meetings"] == []


async def test_create_rejects_a_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    response = await client.post(
        MEETINGS, content=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert error_code(response, 400) == "VALIDATION_ERROR"


async def test_update_changes_name_and_start_time(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    meeting = await create_meeting(client, auth, "Before")
    response = await client.put(
        f"{MEETINGS}/{meeting['id']}",
        json={"name": "After", "startTime": "2032-02-02T09:00:00-05:00"},
        headers=auth,
    )
    updated = data_of(response)
    assert updated["name"] == "After"
    assert datetime.fromisoformat(updated["startTime"]) == datetime.fromisoformat(
        "2032-02-02T14:00:00+00:00"
    )
    assert updated["createdAt"] == meeting["createdAt"]
    assert updated["updatedAt"] > meeting["updatedAt"]

    partial = data_of(
        await client.put(f"{MEETINGS}/{meeting['id']}", json={"name": "Again"}, headers=auth)
    )
    assert partial["name"] == "Again"
    assert partial["startTime"] == updated["startTime"]
    assert data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth)) == partial


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 201},
        {"name": ["x"]},
        {"startTime": "2031-01-01T10:00:00"},
        {"startTime": "not a date"},
        {"startTime": 5},
        {"startTime": "0001-01-01T00:00:00+05:00"},
        {"name": "nul\x00"},
        {"name": "One", "title": "Two"},
        {"title": ""},
        {"title": "x" * 201},
        {"description": "x" * 2001},
        {"description": "bell\x07"},
        {"duration": 0},
        {"duration": 2000},
        {"duration": "45"},
    ],
)
async def test_update_rejects_bad_bodies_with_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    _, auth = await new_user(client)
    meeting = await create_meeting(client, auth, "Keep", description="d", duration=10)
    response = await client.put(f"{MEETINGS}/{meeting['id']}", json=body, headers=auth)
    assert error_code(response, 400) == "VALIDATION_ERROR"
    assert data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth)) == meeting


async def test_start_and_end_toggle_is_active(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    meeting = await create_meeting(client, auth)
    started = data_of(await client.patch(f"{MEETINGS}/{meeting['id']}/start", headers=auth))
    assert started["isActive"] is True
    assert data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))["isActive"]
    ended = data_of(await client.patch(f"{MEETINGS}/{meeting['id']}/end", headers=auth))
    assert ended["isActive"] is False
    assert not data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))["isActive"]


async def test_delete_removes_the_meeting_and_its_participants(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    _, guest_auth = await new_user(client)
    meeting = await create_meeting(client, auth, participants=[{"name": "Ada"}])
    data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=guest_auth))

    response = await client.delete(f"{MEETINGS}/{meeting['id']}", headers=auth)
    assert data_of(response) is None
    assert error_code(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth), 404) == (
        "MEETING_NOT_FOUND"
    )
    assert error_code(await client.delete(f"{MEETINGS}/{meeting['id']}", headers=auth), 404) == (
        "MEETING_NOT_FOUND"
    )
    assert await participant_rows(client, meeting["id"]) == 0


HOST_ONLY = [
    ("PUT", "", {"name": "Hijack"}),
    ("DELETE", "", None),
    ("PATCH", "/start", None),
    ("PATCH", "/end", None),
]
READ = [("GET", ""), ("GET", "/participants")]
ALL_AUTHENTICATED = [
    *[(m, s, b) for m, s, b in HOST_ONLY],
    *[(m, s, None) for m, s in READ],
    ("POST", "/join", None),
    ("POST", "/leave", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), ALL_AUTHENTICATED)
async def test_meeting_paths_need_a_token(
    client: httpx.AsyncClient, method: str, suffix: str, body: Any
) -> None:
    _, auth = await new_user(client)
    meeting = await create_meeting(client, auth)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await client.request(
            method, f"{MEETINGS}/{meeting['id']}{suffix}", json=body, headers=headers
        )
        assert response.status_code == 401, response.text
        assert response.json()["success"] is False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("POST", ""),
        ("GET", "/upcoming"),
        ("GET", "/past"),
        ("GET", "/joined"),
    ],
)
async def test_collection_paths_need_a_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(
        method,
        f"{MEETINGS}{path}",
        json={"name": "x", "startTime": iso(timedelta(days=1))} if method == "POST" else None,
    )
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "suffix", "body"), HOST_ONLY)
async def test_only_the_host_may_change_a_meeting(
    client: httpx.AsyncClient, method: str, suffix: str, body: Any
) -> None:
    _, host = await new_user(client)
    _, stranger = await new_user(client)
    _, participant = await new_user(client)
    meeting = await create_meeting(client, host)
    data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=participant))
    before = data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=host))

    for other in (stranger, participant):
        response = await client.request(
            method, f"{MEETINGS}/{meeting['id']}{suffix}", json=body, headers=other
        )
        assert error_code(response, 403) == "FORBIDDEN"
    assert data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=host)) == before


@pytest.mark.parametrize(("method", "suffix"), READ)
async def test_strangers_may_not_read_a_meeting(
    client: httpx.AsyncClient, method: str, suffix: str
) -> None:
    _, host = await new_user(client)
    _, stranger = await new_user(client)
    meeting = await create_meeting(client, host)
    url = f"{MEETINGS}/{meeting['id']}{suffix}"
    # The host's read fills the cache; the stranger is refused on that hit as on a miss.
    data_of(await client.request(method, url, headers=host))
    for _ in range(2):
        assert error_code(await client.request(method, url, headers=stranger), 403) == "FORBIDDEN"


@pytest.mark.parametrize(("method", "suffix", "body"), ALL_AUTHENTICATED)
async def test_unknown_meeting_is_404_and_malformed_id_is_400(
    client: httpx.AsyncClient, method: str, suffix: str, body: Any
) -> None:
    _, auth = await new_user(client)
    unknown = await client.request(
        method, f"{MEETINGS}/{uuid.uuid4()}{suffix}", json=body, headers=auth
    )
    assert error_code(unknown, 404) == "MEETING_NOT_FOUND"
    for bad in ("not-a-uuid", "123", "%20", "0" * 40):
        malformed = await client.request(
            method, f"{MEETINGS}/{bad}{suffix}", json=body, headers=auth
        )
        assert error_code(malformed, 400) == "INVALID_MEETING_ID"


@pytest.mark.parametrize("suffix", ["/public", "/participants/public"])
async def test_public_paths_404_and_400(client: httpx.AsyncClient, suffix: str) -> None:
    assert error_code(await client.get(f"{MEETINGS}/{uuid.uuid4()}{suffix}"), 404) == (
        "MEETING_NOT_FOUND"
    )
    assert error_code(await client.get(f"{MEETINGS}/nope{suffix}"), 400) == "INVALID_MEETING_ID"
