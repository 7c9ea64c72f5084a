"""`/public-users`: create-or-rename by session, read and rename by session."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from gomeet.public_users.models import PublicUser

BASE = "/api/v1/public-users"


def session_url(session_id: str) -> str:
    return f"{BASE}/session/{quote(session_id, safe='')}"


async def create(client: httpx.AsyncClient, session_id: str, name: str) -> httpx.Response:
    return await client.post(BASE, json={"name": name, "sessionId": session_id})


async def count_rows(client: httpx.AsyncClient, session_id: str) -> int:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        total: int = await session.scalar(
            select(func.count()).select_from(PublicUser).where(PublicUser.session_id == session_id)
        )
        return total


async def test_create_returns_201_with_the_public_user(client: httpx.AsyncClient) -> None:
    response = await create(client, "sess-1", "  Guest One  ")
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"id", "name", "sessionId", "createdAt"}
    assert data["name"] == "Guest One"
    assert data["sessionId"] == "sess-1"
    assert datetime.fromisoformat(data["createdAt"]).utcoffset() == timedelta(0)


async def test_existing_session_is_200_with_the_name_updated(client: httpx.AsyncClient) -> None:
    first = (await create(client, "sess-2", "Before")).json()["data"]
    assert (await client.get(session_url("sess-2"))).json()["data"]["name"] == "Before"

    response = await create(client, "sess-2", "After")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == first["id"]
    assert data["createdAt"] == first["createdAt"]
    assert data["name"] == "After"
    # The read that came before the rename is not served again.
    assert (await client.get(session_url("sess-2"))).json()["data"] == data
    assert await count_rows(client, "sess-2") == 1


async def test_concurrent_creates_of_one_session_make_one_row(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(create(client, "race-session", f"Guest {i}") for i in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    assert await count_rows(client, "race-session") == 1


async def test_get_by_session(client: httpx.AsyncClient) -> None:
    created = (await create(client, "sess-3", "Reader")).json()["data"]
    response = await client.get(session_url("sess-3"))
    assert response.status_code == 200
    assert response.json()["data"] == created


async def test_unknown_session_is_404_not_found(client: httpx.AsyncClient) -> None:
    """`NOT_FOUND` is the code the web client tests for: it then creates the guest."""
    for _ in range(2):  # the second lookup may be served from the cache's negative entry
        for response in (
            await client.get(session_url("nobody")),
            await client.put(session_url("nobody"), json={"name": "X"}),
        ):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_rename_by_session_is_seen_by_the_next_read(client: httpx.AsyncClient) -> None:
    created = (await create(client, "sess-4", "Old Name")).json()["data"]
    assert (await client.get(session_url("sess-4"))).json()["data"]["name"] == "Old Name"

    response = await client.put(session_url("sess-4"), json={"name": " New Name "})
    assert response.status_code == 200
    assert response.json()["data"] == {**created, "name": "New Name"}
    assert (await client.get(session_url("sess-4"))).json()["data"]["name"] == "New Name"


SPECIAL_SESSION_IDS = [
    "a:b:c",
    "star*",
    "what?",
    "[abc]",
    "back\\slash",
    "with space",
    " leading and trailing ",
    "percent%41",
    "slash/inside",
    "ünïcødé 会议 🎉",
    "x" * 128,
]


@pytest.mark.parametrize("session_id", SPECIAL_SESSION_IDS)
async def test_session_ids_round_trip_exactly(client: httpx.AsyncClient, session_id: str) -> None:
    created = await create(client, session_id, "Special")
    assert created.status_code == 201
    assert created.json()["data"]["sessionId"] == session_id

    for _ in range(2):  # a miss, then (with the cache on) a hit
        response = await client.get(session_url(session_id))
        assert response.status_code == 200
        assert response.json()["data"] == created.json()["data"]

    renamed = await client.put(session_url(session_id), json={"name": "Renamed"})
    assert renamed.status_code == 200
    assert (await client.get(session_url(session_id))).json()["data"]["name"] == "Renamed"


async def test_similar_session_ids_are_different_users(client: httpx.AsyncClient) -> None:
    spellings = ["Abc", "abc", " abc", "a*c", "a?c", "a:c", "a%3Ac"]
    ids = {(await create(client, s, s.strip() or "x")).json()["data"]["id"] for s in spellings}
    assert len(ids) == len(spellings)
    for s in spellings:
        assert (await client.get(session_url(s))).json()["data"]["sessionId"] == s
    # No spelling matches another's key as a pattern.
    assert (await client.get(session_url("a.c"))).status_code == 404


BAD_BODIES: list[Any] = [
    {"sessionId": "s"},
    {"name": "Guest"},
    {"name": "", "sessionId": "s"},
    {"name": "   ", "sessionId": "s"},
    {"name": "x" * 101, "sessionId": "s"},
    {"name": 5, "sessionId": "s"},
    {"name": "Guest", "sessionId": ""},
    {"name": "Guest", "sessionId": "x" * 129},
    {"name": "Guest", "sessionId": "line\nbreak"},
    {"name": "Guest", "sessionId": "tab\there"},
    {"name": "Guest", "sessionId": "nul\x00"},
    {"name": "Guest", "sessionId": "\u202egnirts"},
    {"name": "nul\x00", "sessionId": "s"},
    {"name": "two\nlines", "sessionId": "s"},
    {"name": "esc\x1b[31m", "sessionId": "s"},
    {"name": "Guest", "sessionId": 12345},
    {"name": "Guest", "sessionId": None},
    ["not", "an", "object"],
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_invalid_create_bodies_are_400(client: httpx.AsyncClient, body: Any) -> None:
    response = await client.post(BASE, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        BASE, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": None}, {"name": "nul\x00"}]
)
async def test_invalid_rename_bodies_are_400(client: httpx.AsyncClient, body: Any) -> None:
    await create(client, "sess-5", "Guest")
    response = await client.put(session_url("sess-5"), json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert (await client.get(session_url("sess-5"))).json()["data"]["name"] == "Guest"


@pytest.mark.parametrize("session_id", ["x" * 129, "ctl\x01", "tab\there"])
async def test_invalid_session_id_in_path_is_400(
    client: httpx.AsyncClient, session_id: str
) -> None:
    for response in (
        await client.get(session_url(session_id)),
        await client.put(session_url(session_id), json={"name": "X"}),
    ):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_session_ids_never_reach_the_logs_unmasked(
    app_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "S3cr3t-guest-token-0123456789"
    async with app_client(log_level="DEBUG") as client:
        assert (await create(client, secret, "Guest")).status_code == 201
        assert (await create(client, secret, "Guest 2")).status_code == 200
        assert (await client.get(session_url(secret))).status_code == 200
        assert (await client.put(session_url(secret), json={"name": "G"})).status_code == 200
        assert (await client.get(session_url(secret + "-unknown"))).status_code == 404
    out = capsys.readouterr().out
    assert "public_user_created" in out  # the records were captured
    assert secret not in out
    assert quote(secret, safe="") not in out
