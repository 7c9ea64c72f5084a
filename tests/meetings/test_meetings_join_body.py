"""`POST /meetings/join` · `/leave` with `{meetingId}`, as the web client calls them: the same
behaviour and errors as `POST /meetings/{id}/join` · `/leave` (CONTRACT §3)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from meeting_helpers import MEETINGS, create_meeting, data_of, error_code, new_user

Auth = dict[str, str]
Call = Callable[[httpx.AsyncClient, str, Any, Auth], Awaitable[httpx.Response]]


async def by_path(client: httpx.AsyncClient, action: str, meeting_id: Any, auth: Auth) -> Any:
    return await client.post(f"{MEETINGS}/{meeting_id}/{action}", headers=auth)


async def by_body(client: httpx.AsyncClient, action: str, meeting_id: Any, auth: Auth) -> Any:
    return await client.post(f"{MEETINGS}/{action}", json={"meetingId": meeting_id}, headers=auth)


SPELLINGS = pytest.mark.parametrize("call", [by_path, by_body], ids=["path", "body"])


@SPELLINGS
async def test_join_and_leave_with_either_spelling(client: httpx.AsyncClient, call: Call) -> None:
    me, auth = await new_user(client)
    _, host = await new_user(client)
    meeting = await create_meeting(client, host, "Open")
    assert data_of(await client.get(f"{MEETINGS}/joined", headers=auth))["meetings"] == []

    joined = data_of(await call(client, "join", meeting["id"], auth))
    assert joined["userId"] == me["id"]
    assert (joined["name"], joined["isActive"]) == (me["username"], True)
    again = data_of(await call(client, "join", meeting["id"].upper(), auth))
    assert again["id"] == joined["id"]
    listed = data_of(await client.get(f"{MEETINGS}/joined", headers=auth))["meetings"]
    assert [m["id"] for m in listed] == [meeting["id"]]

    left = data_of(await call(client, "leave", meeting["id"], auth))
    assert (left["id"], left["isActive"]) == (joined["id"], False)
    assert left["leftAt"] is not None
    url = f"{MEETINGS}/{meeting['id']}/participants"
    participants = data_of(await client.get(url, headers=host))
    assert [(p["userId"], p["isActive"]) for p in participants] == [(me["id"], False)]


@SPELLINGS
@pytest.mark.parametrize("action", ["join", "leave"])
async def test_the_same_errors_with_either_spelling(
    client: httpx.AsyncClient, call: Call, action: str
) -> None:
    _, auth = await new_user(client)
    unknown = await call(client, action, str(uuid.uuid4()), auth)
    assert error_code(unknown, 404) == "MEETING_NOT_FOUND"
    for bad in ("not-a-uuid", "123", "0" * 40, "x" * 1000):
        assert error_code(await call(client, action, bad, auth), 400) == "INVALID_MEETING_ID"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await call(client, action, str(uuid.uuid4()), headers)
        assert response.status_code == 401


async def test_leaving_a_meeting_never_joined_is_404_with_either_spelling(
    client: httpx.AsyncClient,
) -> None:
    _, auth = await new_user(client)
    _, host = await new_user(client)
    meeting = await create_meeting(client, host)
    for call in (by_path, by_body):
        response = await call(client, "leave", meeting["id"], auth)
        assert error_code(response, 404) == "PARTICIPANT_NOT_FOUND"


@pytest.mark.parametrize("action", ["join", "leave"])
@pytest.mark.parametrize(
    "body",
    [{}, {"meetingId": None}, {"meetingId": 42}, {"meetingId": ["x"]}, {"id": "x"}, [], "x"],
    ids=repr,
)
async def test_a_body_without_a_meeting_id_is_a_validation_error(
    client: httpx.AsyncClient, action: str, body: Any
) -> None:
    _, auth = await new_user(client)
    response = await client.post(f"{MEETINGS}/{action}", json=body, headers=auth)
    assert error_code(response, 400) == "VALIDATION_ERROR"


@pytest.mark.parametrize("action", ["join", "leave"])
async def test_a_body_that_is_not_json_is_a_validation_error(
    client: httpx.AsyncClient, action: str
) -> None:
    _, auth = await new_user(client)
    response = await client.post(
        f"{MEETINGS}/{action}",
        content=b"{meetingId",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert error_code(response, 400) == "VALIDATION_ERROR"
