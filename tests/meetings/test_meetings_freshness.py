"""After every write that changes what a cached read shows, the next read is fresh.

Each test reads every view of a meeting twice first (a miss, then a hit once the cache
holds it), makes one write through the API, and checks every view again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from meeting_helpers import MEETINGS, create_meeting, data_of, error_code, iso, new_user

from gomeet.db import UnitOfWork
from gomeet.meetings.service import MeetingService
from gomeet.public_users.models import PublicUser
from helpers import API

Auth = dict[str, str]


async def views(
    client: httpx.AsyncClient, meeting_id: str, host: Auth, member: Auth
) -> dict[str, Any]:
    """Every cached read that can show the meeting, as the host and as a participant."""
    result: dict[str, Any] = {}
    for _ in range(2):  # the second round is served from the cache when it is on
        m = f"{MEETINGS}/{meeting_id}"
        result = {
            "details": (await client.get(m, headers=host)).json(),
            "details_as_member": (await client.get(m, headers=member)).json(),
            "participants": (await client.get(f"{m}/participants", headers=host)).json(),
            "host_list": data_of(await client.get(MEETINGS, headers=host))["meetings"],
            "host_search": data_of(
                await client.get(MEETINGS, params={"search": "tea"}, headers=host)
            )["meetings"],
            "upcoming": data_of(await client.get(f"{MEETINGS}/upcoming", headers=host)),
            "past": data_of(await client.get(f"{MEETINGS}/past", headers=host))["meetings"],
            "joined": data_of(await client.get(f"{MEETINGS}/joined", headers=member))["meetings"],
            "public": (await client.get(f"{m}/public")).json(),
            "public_participants": (await client.get(f"{m}/participants/public")).json(),
        }
    return result


def listed(meetings: list[dict[str, Any]], meeting_id: str) -> dict[str, Any] | None:
    return next((m for m in meetings if m["id"] == meeting_id), None)


async def setup(client: httpx.AsyncClient) -> tuple[dict[str, Any], Auth, dict[str, Any], Auth]:
    """A host with one upcoming meeting "Team sync" that a member has joined."""
    _, host = await new_user(client)
    member, member_auth = await new_user(client)
    meeting = await create_meeting(client, host, "Team sync", timedelta(days=2))
    data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=member_auth))
    return meeting, host, member, member_auth


async def test_create_shows_up_in_the_hosts_lists(client: httpx.AsyncClient) -> None:
    meeting, host, _, member = await setup(client)
    await views(client, meeting["id"], host, member)
    future = await create_meeting(client, host, "Team future", timedelta(days=1))
    old = await create_meeting(client, host, "Team retro", timedelta(days=-1))

    after = await views(client, meeting["id"], host, member)
    assert listed(after["host_list"], future["id"]) is not None
    assert listed(after["host_search"], old["id"]) is not None
    assert [m["id"] for m in after["upcoming"]] == [future["id"], meeting["id"]]
    assert [m["id"] for m in after["past"]] == [old["id"]]


async def test_update_is_seen_everywhere(client: httpx.AsyncClient) -> None:
    meeting, host, _, member = await setup(client)
    before = await views(client, meeting["id"], host, member)
    assert [m["id"] for m in before["upcoming"]] == [meeting["id"]]

    data_of(
        await client.put(
            f"{MEETINGS}/{meeting['id']}",
            json={"name": "Board meeting", "startTime": iso(timedelta(hours=-3))},
            headers=host,
        )
    )
    after = await views(client, meeting["id"], host, member)
    assert after["details"]["data"]["name"] == "Board meeting"
    assert after["details_as_member"]["data"]["name"] == "Board meeting"
    assert listed(after["host_list"], meeting["id"])["name"] == "Board meeting"  # type: ignore[index]
    assert after["host_search"] == []  # no longer matches "tea"
    assert after["upcoming"] == []
    assert [m["name"] for m in after["past"]] == ["Board meeting"]
    assert [m["name"] for m in after["joined"]] == ["Board meeting"]
    assert after["public"]["data"]["name"] == "Board meeting"


async def test_the_web_clients_update_is_seen_everywhere(client: httpx.AsyncClient) -> None:
    """`PUT {title, description, duration}` invalidates exactly as a rename does."""
    meeting, host, _, member = await setup(client)
    await views(client, meeting["id"], host, member)
    body = {"title": "Team offsite", "description": "Agenda attached", "duration": 240}
    data_of(await client.put(f"{MEETINGS}/{meeting['id']}", json=body, headers=host))

    after = await views(client, meeting["id"], host, member)
    shown = [
        after["details"]["data"],
        after["details_as_member"]["data"],
        after["public"]["data"],
        *(listed(after[family], meeting["id"]) for family in ("host_list", "upcoming", "joined")),
    ]
    for view in shown:
        assert view is not None
        assert (view["name"], view["title"]) == ("Team offsite", "Team offsite")
        assert (view["description"], view["duration"]) == ("Agenda attached", 240)


async def test_start_and_end_are_seen_everywhere(client: httpx.AsyncClient) -> None:
    meeting, host, _, member = await setup(client)
    for action, active in (("start", True), ("end", False)):
        await views(client, meeting["id"], host, member)
        data_of(await client.patch(f"{MEETINGS}/{meeting['id']}/{action}", headers=host))
        after = await views(client, meeting["id"], host, member)
        assert after["details"]["data"]["isActive"] is active
        assert after["details_as_member"]["data"]["isActive"] is active
        for family in ("host_list", "host_search", "upcoming", "joined"):
            assert listed(after[family], meeting["id"])["isActive"] is active  # type: ignore[index]
        assert after["public"]["data"]["isActive"] is active


async def test_delete_removes_it_from_every_view(client: httpx.AsyncClient) -> None:
    meeting, host, _, member = await setup(client)
    await views(client, meeting["id"], host, member)
    data_of(await client.delete(f"{MEETINGS}/{meeting['id']}", headers=host))

    after = await views(client, meeting["id"], host, member)
    for view in ("details", "details_as_member", "participants", "public", "public_participants"):
        assert after[view]["error"]["code"] == "MEETING_NOT_FOUND"
    for family in ("host_list", "host_search", "upcoming", "past", "joined"):
        assert after[family] == []


async def test_join_and_leave_are_seen_by_everyone(client: httpx.AsyncClient) -> None:
    meeting, host, member, member_auth = await setup(client)
    newcomer, newcomer_auth = await new_user(client)
    await views(client, meeting["id"], host, member_auth)
    data_of(await client.get(f"{MEETINGS}/joined", headers=newcomer_auth))
    assert error_code(
        await client.get(f"{MEETINGS}/{meeting['id']}", headers=newcomer_auth), 403
    ) == ("FORBIDDEN")

    data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=newcomer_auth))
    after = await views(client, meeting["id"], host, member_auth)
    everyone = {member["id"], newcomer["id"]}
    assert {p["userId"] for p in after["participants"]["data"]} == everyone
    assert {p["userId"] for p in after["details"]["data"]["participants"]} == everyone
    for family in ("host_list", "upcoming", "joined"):  # lists embed the participants
        shown = listed(after[family], meeting["id"])["participants"]  # type: ignore[index]
        assert {p["userId"] for p in shown} == everyone
    assert after["public"]["data"]["participantCount"] == 2
    assert len(after["public_participants"]["data"]) == 2
    newcomer_joined = data_of(await client.get(f"{MEETINGS}/joined", headers=newcomer_auth))
    assert [m["id"] for m in newcomer_joined["meetings"]] == [meeting["id"]]
    data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=newcomer_auth))

    data_of(await client.post(f"{MEETINGS}/{meeting['id']}/leave", headers=newcomer_auth))
    after = await views(client, meeting["id"], host, member_auth)
    state = {p["userId"]: p["isActive"] for p in after["participants"]["data"]}
    assert state == {member["id"]: True, newcomer["id"]: False}
    shown = listed(after["joined"], meeting["id"])["participants"]  # type: ignore[index]
    assert {p["userId"]: p["isActive"] for p in shown} == state
    assert after["public"]["data"]["participantCount"] == 1
    left = data_of(await client.get(f"{MEETINGS}/joined", headers=newcomer_auth))["meetings"]
    assert {p["userId"]: p["isActive"] for p in left[0]["participants"]} == state


async def test_guest_join_and_leave_are_seen(client: httpx.AsyncClient) -> None:
    meeting, host, _, member = await setup(client)
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        guest = PublicUser(name="Visitor", session_id=f"s-{uuid.uuid4()}")
        session.add(guest)
        await session.commit()

    for join in (True, False):
        await views(client, meeting["id"], host, member)
        async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            uow = UnitOfWork(session, client.app.state.outbox)  # type: ignore[attr-defined]
            service = MeetingService(uow, client.app.state.cache)  # type: ignore[attr-defined]
            if join:
                await service.join_as_guest(uuid.UUID(meeting["id"]), guest.id, "Visitor")
            else:
                await service.leave_as_guest(uuid.UUID(meeting["id"]), guest.id)
            await uow.commit()
        after = await views(client, meeting["id"], host, member)
        visitor = {"name": "Visitor", "avatarUrl": None, "isActive": join}
        assert visitor in after["public_participants"]["data"]
        assert after["public"]["data"]["participantCount"] == (2 if join else 1)
        for view in (after["participants"]["data"], after["details"]["data"]["participants"]):
            assert [p["isActive"] for p in view if p["publicUserId"] == str(guest.id)] == [join]
        for family in ("host_list", "joined"):
            shown = listed(after[family], meeting["id"])["participants"]  # type: ignore[index]
            assert [p["isActive"] for p in shown if p["publicUserId"] == str(guest.id)] == [join]


async def test_profile_changes_reach_the_copies_in_meetings(client: httpx.AsyncClient) -> None:
    meeting, host, member, member_auth = await setup(client)
    await views(client, meeting["id"], host, member_auth)

    for auth, name, avatar in (
        (member_auth, "renamed_member", "https://img.test/m.png"),
        (host, "renamed_host", "https://img.test/h.png"),
    ):
        response = await client.put(
            f"{API}/auth/update-profile",
            json={"username": name, "avatarUrl": avatar},
            headers=auth,
        )
        assert response.status_code == 200, response.text

    after = await views(client, meeting["id"], host, member_auth)
    participant = {"name": "renamed_member", "avatarUrl": "https://img.test/m.png"}
    host_copy = {"username": "renamed_host", "avatarUrl": "https://img.test/h.png"}
    meeting_views = [
        after["details"]["data"],
        after["details_as_member"]["data"],
        listed(after["host_list"], meeting["id"]),
        listed(after["upcoming"], meeting["id"]),
        listed(after["joined"], meeting["id"]),
    ]
    for shown in meeting_views:
        assert shown is not None
        assert {k: shown["host"][k] for k in host_copy} == host_copy
        [p] = shown["participants"]
        assert p["userId"] == member["id"]
        assert {k: p[k] for k in participant} == participant
    [p] = after["participants"]["data"]
    assert {k: p[k] for k in participant} == participant
    assert after["public"]["data"]["host"] == host_copy
    assert after["public_participants"]["data"] == [{**participant, "isActive": True}]
