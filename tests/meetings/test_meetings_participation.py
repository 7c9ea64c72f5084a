"""Join and leave (users and guests), the participant list and the public views."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from meeting_helpers import (
    MEETINGS,
    create_meeting,
    data_of,
    error_code,
    new_user,
    participant_rows,
)

from gomeet.db import UnitOfWork
from gomeet.meetings.service import MeetingService, ParticipantNotFound
from gomeet.public_users.models import PublicUser


async def test_join_adds_the_caller_with_their_profile_copy(client: httpx.AsyncClient) -> None:
    _, host = await new_user(client)
    me, auth = await new_user(client)
    meeting = await create_meeting(client, host)

    joined = data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=auth))
    assert joined["userId"] == me["id"]
    assert joined["publicUserId"] is None
    assert joined["name"] == me["username"]
    assert joined["avatarUrl"] == me["avatarUrl"]
    assert joined["isActive"] is True
    assert joined["leftAt"] is None

    # A participant may now read the meeting and its participants.
    details = data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))
    assert details["participants"] == [joined]
    participants = data_of(
        await client.get(f"{MEETINGS}/{meeting['id']}/participants", headers=auth)
    )
    assert participants == [joined]
    assert data_of(await client.get(f"{MEETINGS}/{meeting['id']}/participants", headers=host)) == [
        joined
    ]


async def test_join_is_idempotent(client: httpx.AsyncClient) -> None:
    _, host = await new_user(client)
    _, auth = await new_user(client)
    meeting = await create_meeting(client, host)
    first = data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=auth))
    again = data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=auth))
    assert again == first
    assert await participant_rows(client, meeting["id"]) == 1


async def test_leave_then_rejoin_reuses_the_same_row(client: httpx.AsyncClient) -> None:
    _, host = await new_user(client)
    _, auth = await new_user(client)
    meeting = await create_meeting(client, host)
    joined = data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=auth))

    left = data_of(await client.post(f"{MEETINGS}/{meeting['id']}/leave", headers=auth))
    assert left["id"] == joined["id"]
    assert left["isActive"] is False
    assert left["leftAt"] is not None
    assert left["leftAt"] >= left["joinedAt"]
    # Leaving twice changes nothing; someone who left may still read the meeting.
    assert data_of(await client.post(f"{MEETINGS}/{meeting['id']}/leave", headers=auth)) == left
    details = data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))
    assert details["participants"] == [left]

    rejoined = data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=auth))
    assert rejoined["id"] == joined["id"]
    assert rejoined["isActive"] is True
    assert rejoined["leftAt"] is None
    assert rejoined["joinedAt"] >= joined["joinedAt"]
    assert await participant_rows(client, meeting["id"]) == 1


async def test_leave_without_joining_is_404(client: httpx.AsyncClient) -> None:
    _, host = await new_user(client)
    _, auth = await new_user(client)
    meeting = await create_meeting(client, host)
    response = await client.post(f"{MEETINGS}/{meeting['id']}/leave", headers=auth)
    assert error_code(response, 404) == "PARTICIPANT_NOT_FOUND"


async def test_fifty_concurrent_joins_of_one_user_make_one_row(client: httpx.AsyncClient) -> None:
    _, host = await new_user(client)
    me, auth = await new_user(client)
    meeting = await create_meeting(client, host)
    url = f"{MEETINGS}/{meeting['id']}/join"

    responses = await asyncio.gather(*(client.post(url, headers=auth) for _ in range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    assert await participant_rows(client, meeting["id"]) == 1
    participants = data_of(
        await client.get(f"{MEETINGS}/{meeting['id']}/participants", headers=host)
    )
    assert [p["userId"] for p in participants] == [me["id"]]


async def test_public_views_need_no_token_and_show_no_private_data(
    client: httpx.AsyncClient,
) -> None:
    host_user, host = await new_user(client)
    _, first = await new_user(client)
    _, second = await new_user(client)
    meeting = await create_meeting(
        client, host, "Open day", participants=[{"name": "Ada"}], description="All welcome"
    )
    for auth in (first, second):
        data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=auth))
    data_of(await client.post(f"{MEETINGS}/{meeting['id']}/leave", headers=second))

    response = await client.get(f"{MEETINGS}/{meeting['id']}/public")
    public = data_of(response)
    assert public == {
        "id": meeting["id"],
        "name": "Open day",
        "title": "Open day",
        "description": "All welcome",
        "startTime": meeting["startTime"],
        "duration": None,
        "isActive": False,
        "hostId": host_user["id"],
        "host": {"username": host_user["username"], "avatarUrl": host_user["avatarUrl"]},
        "participantCount": 2,  # Ada and the first user; the second one left
    }
    assert host_user["email"] not in response.text
    assert "@" not in response.text
    assert "sessionId" not in response.text

    response = await client.get(f"{MEETINGS}/{meeting['id']}/participants/public")
    listed = data_of(response)
    assert all(set(p) == {"name", "avatarUrl", "isActive"} for p in listed)
    assert sorted(p["isActive"] for p in listed) == [False, True, True]
    assert "@" not in response.text


def guest_service(client: httpx.AsyncClient) -> tuple[UnitOfWork, MeetingService]:
    session = client.app.state.sessionmaker()  # type: ignore[attr-defined]
    uow = UnitOfWork(session, client.app.state.outbox)  # type: ignore[attr-defined]
    return uow, MeetingService(uow, client.app.state.cache)  # type: ignore[attr-defined]


async def new_guest(client: httpx.AsyncClient, name: str) -> uuid.UUID:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        guest = PublicUser(name=name, session_id=f"session-{uuid.uuid4()}")
        session.add(guest)
        await session.commit()
        return guest.id


async def test_guests_join_and_leave_through_the_service(client: httpx.AsyncClient) -> None:
    _, host = await new_user(client)
    meeting = await create_meeting(client, host)
    meeting_id = uuid.UUID(meeting["id"])
    guest_id = await new_guest(client, "Guest")

    uow, service = guest_service(client)
    async with uow.session:
        joined = await service.join_as_guest(meeting_id, guest_id, "Guest")
        again = await service.join_as_guest(meeting_id, guest_id, "A stale copy")
        await uow.commit()
    assert joined["publicUserId"] == str(guest_id)
    assert joined["userId"] is None
    assert again["id"] == joined["id"]
    assert again["name"] == "Guest"  # the row shows the guest's own, current name

    listed = data_of(await client.get(f"{MEETINGS}/{meeting['id']}/participants/public"))
    assert listed == [{"name": "Guest", "avatarUrl": None, "isActive": True}]

    uow, service = guest_service(client)
    async with uow.session:
        left = await service.leave_as_guest(meeting_id, guest_id)
        await uow.commit()
    assert left["id"] == joined["id"]
    assert left["isActive"] is False
    assert left["leftAt"] is not None
    listed = data_of(await client.get(f"{MEETINGS}/{meeting['id']}/participants/public"))
    assert listed == [{"name": "Guest", "avatarUrl": None, "isActive": False}]
    assert await participant_rows(client, meeting["id"]) == 1

    uow, service = guest_service(client)
    async with uow.session:
        with pytest.raises(ParticipantNotFound):
            await service.leave_as_guest(meeting_id, await new_guest(client, "Other"))


async def test_fifty_concurrent_guest_joins_make_one_row(client: httpx.AsyncClient) -> None:
    _, host = await new_user(client)
    meeting = await create_meeting(client, host)
    meeting_id = uuid.UUID(meeting["id"])
    guest_id = await new_guest(client, "Guest")

    async def join() -> str:
        uow, service = guest_service(client)
        async with uow.session:
            joined = await service.join_as_guest(meeting_id, guest_id, "Guest")
            await uow.commit()
            return str(joined["id"])

    ids = await asyncio.gather(*(join() for _ in range(50)))
    assert len(set(ids)) == 1
    assert await participant_rows(client, meeting["id"]) == 1
