"""CONTRACT §6.8: connections are presence. A signed-in user's or a guest's first
connection makes their participant row active, the last one closing makes it inactive;
the host gets no row, anonymous callers write nothing; every cached view a presence
change touches is fresh afterwards; a database failure never breaks signaling."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from signaling_helpers import (
    Peer,
    bearer,
    drain_all,
    eventually,
    new_guest,
    new_meeting,
    new_user,
)
from sqlalchemy import select

from gomeet.db import create_engine, make_sessionmaker
from gomeet.meetings.models import Participant

LiveServerFactory = Callable[..., Any]


async def rows(server: Any, meeting_id: str) -> list[Participant]:
    """The meeting's participant rows, from the database itself."""
    async with server.app.state.sessionmaker() as session:
        result = await session.scalars(
            select(Participant).where(Participant.meeting_id == uuid.UUID(meeting_id))
        )
        return list(result)


async def participants(http: Any, meeting_id: str, token: str) -> list[dict[str, Any]]:
    response = await http.get(f"/api/v1/meetings/{meeting_id}/participants", headers=bearer(token))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def joined_ids(http: Any, token: str) -> set[str]:
    response = await http.get("/api/v1/meetings/joined", headers=bearer(token))
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["data"]["meetings"]}


async def test_connections_make_presence_and_every_cached_view_follows(
    live_server: LiveServerFactory,
) -> None:
    async with live_server() as server, server.http() as http:
        _, _, host_token = await new_user(http)
        meeting = await new_meeting(http, host_token)
        member_id, member_name, member_token = await new_user(http)
        guest_id, session = await new_guest(http, "Guest Star")
        # Cached before anyone connects: the views must not keep serving these.
        assert await participants(http, meeting, host_token) == []
        assert await joined_ids(http, member_token) == set()
        public = await http.get(f"/api/v1/meetings/{meeting}/participants/public")
        assert public.json()["data"] == []

        member = await Peer.open(server.ws_url, meeting, token=member_token, label="member")
        guest = await Peer.open(server.ws_url, meeting, session_id=session, label="guest")
        # The first connection's row is written before the socket opens: fresh at once.
        listed = await participants(http, meeting, host_token)
        assert {(p["userId"], p["publicUserId"], p["name"], p["isActive"]) for p in listed} == {
            (member_id, None, member_name, True),
            (None, guest_id, "Guest Star", True),
        }
        assert all(p["leftAt"] is None for p in listed)
        assert await joined_ids(http, member_token) == {meeting}
        public = await http.get(f"/api/v1/meetings/{meeting}/participants/public")
        assert {(p["name"], p["isActive"]) for p in public.json()["data"]} == {
            (member_name, True),
            ("Guest Star", True),
        }

        await member.close()

        async def member_left() -> list[dict[str, Any]] | None:
            listed = await participants(http, meeting, host_token)
            mine = [p for p in listed if p["userId"] == member_id]
            return listed if mine and not mine[0]["isActive"] else None

        listed = await eventually(member_left)  # cached for 600 s: only the write refreshes it
        left = next(p for p in listed if p["userId"] == member_id)
        assert left["leftAt"] is not None
        assert next(p for p in listed if p["publicUserId"] == guest_id)["isActive"] is True
        assert await joined_ids(http, member_token) == {meeting}  # left, still joined once
        (row,) = [r for r in await rows(server, meeting) if r.user_id == uuid.UUID(member_id)]
        assert (row.is_active, row.left_at is not None) == (False, True)

        again = await Peer.open(server.ws_url, meeting, token=member_token, label="again")
        listed = await participants(http, meeting, host_token)
        back = next(p for p in listed if p["userId"] == member_id)
        assert (back["isActive"], back["leftAt"]) == (True, None)  # reactivated, one row
        assert len(await rows(server, meeting)) == 2
        await drain_all(guest, again)


async def test_the_last_of_several_tabs_closes_the_presence(live_server: LiveServerFactory) -> None:
    async with live_server() as server, server.http() as http:
        _, _, host_token = await new_user(http)
        meeting = await new_meeting(http, host_token)
        member_id, _, member_token = await new_user(http)
        observer = await Peer.open(server.ws_url, meeting, label="observer")
        tabs = [await Peer.open(server.ws_url, meeting, token=member_token) for _ in range(3)]
        await observer.wait_for(lambda _: len(observer.of_type("participant-joined")) == 3)
        tab_ids = [m["from"] for m in observer.of_type("participant-joined")]
        for tab, tab_id in zip(tabs[:2], tab_ids, strict=False):
            await tab.close()
            await observer.left(tab_id)
        await server.hub.settle(10)  # their departures are fully handled
        (row,) = await rows(server, meeting)
        assert row.is_active is True  # one tab is still open
        await tabs[2].abort()
        await observer.left(tab_ids[2])
        await server.hub.settle(10)
        (row,) = await rows(server, meeting)
        assert (row.user_id, row.is_active, row.left_at is not None) == (
            uuid.UUID(member_id),
            False,
            True,
        )
        await drain_all(observer)


async def test_the_host_gets_no_row_and_anonymous_callers_write_nothing(
    live_server: LiveServerFactory,
) -> None:
    async with live_server() as server, server.http() as http:
        _, _, host_token = await new_user(http)
        meeting = await new_meeting(http, host_token)
        host = await Peer.open(server.ws_url, meeting, token=host_token)
        anonymous = await Peer.open(server.ws_url, meeting)
        await host.wait_for(lambda m: m["type"] == "participant-joined")
        await drain_all(host, anonymous)
        await server.hub.settle(10)
        assert await rows(server, meeting) == []
        assert server.hub.presence.writes == 0


async def test_a_database_failure_never_breaks_signaling(live_server: LiveServerFactory) -> None:
    async with live_server() as server, server.http() as http:
        _, _, host_token = await new_user(http)
        meeting = await new_meeting(http, host_token)
        guest_id, session = await new_guest(http, "Resilient")
        # The meeting and the guest are in the cache: the handshake needs no database.
        assert (await http.get(f"/api/v1/public-users/session/{session}")).status_code == 200
        host = await Peer.open(server.ws_url, meeting, token=host_token)
        state = server.app.state
        working = state.sessionmaker
        dead = create_engine("sqlite+aiosqlite:////nonexistent-directory/gomeet.db")
        state.sessionmaker = make_sessionmaker(dead)
        try:
            guest = await Peer.open(server.ws_url, meeting, session_id=session, label="guest")
            guest_peer = await host.joined("Resilient")
            await host.relay("offer", guest_peer, {"type": "offer", "sdp": "v=0"})
            await guest.wait_for(lambda m: m["type"] == "offer")
        finally:
            state.sessionmaker = working
            await dead.dispose()

        async def present() -> bool:  # the failed write is retried once the database is back
            return any(
                r.public_user_id == uuid.UUID(guest_id) and r.is_active
                for r in await rows(server, meeting)
            )

        await eventually(present)
        await drain_all(host, guest)
