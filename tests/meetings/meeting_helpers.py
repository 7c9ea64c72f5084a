"""Helpers for the meeting tests: users, meetings and a few API calls."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from gomeet.meetings.models import Participant
from helpers import API, bearer, register_user

MEETINGS = f"{API}/meetings"


def iso(delta: timedelta) -> str:
    """now + delta as ISO 8601 with an offset."""
    return (datetime.now(UTC) + delta).isoformat()


async def new_user(
    client: httpx.AsyncClient, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """A registered user and their Authorization header."""
    user, access, _ = await register_user(client, **kwargs)
    return user, bearer(access)


async def create_meeting(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    name: str = "Standup",
    start: timedelta = timedelta(days=1),
    **extra: Any,
) -> dict[str, Any]:
    response = await client.post(
        MEETINGS, json={"name": name, "startTime": iso(start), **extra}, headers=auth
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def data_of(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.json()["success"] is True
    return response.json()["data"]


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    code: str = body["error"]["code"]
    return code


async def participant_rows(client: httpx.AsyncClient, meeting_id: str) -> int:
    """Participant rows of a meeting, counted in the database itself."""
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        total: int = await session.scalar(
            select(func.count())
            .select_from(Participant)
            .where(Participant.meeting_id == uuid.UUID(meeting_id))
        )
        return total
