"""Writes racing other writes (issue 7, defects 1 and 13): PostgreSQL only.

A host's write and a join commit in either order without blocking each other on
PostgreSQL (the join's foreign-key check takes a key-share lock, which an UPDATE of the
meeting's own columns does not conflict with); SQLite serialises writers, so these
interleavings cannot happen there. The invalidations are computed from committed rows after
the commit, so a join that commits while the host's write is still open is found.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gomeet.auth.schemas import Principal, UpdateProfileRequest
from gomeet.auth.service import AuthService
from gomeet.db import UnitOfWork
from gomeet.meetings.schemas import MeetingUpdate
from gomeet.meetings.service import MeetingService
from helpers import API
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, new_user
from support.servers import migrated


@pytest.fixture(scope="module")
def database_url(postgresql_url: str) -> str:
    return migrated(postgresql_url)


@contextlib.asynccontextmanager
async def open_write(client: httpx.AsyncClient) -> AsyncIterator[UnitOfWork]:
    """A unit of work on the app, left open while the block runs, then committed."""
    state: Any = client.app.state  # type: ignore[attr-defined]
    async with state.sessionmaker() as session:
        uow = UnitOfWork(session, state.outbox)
        yield uow
        await uow.commit()


def joined_names(response: httpx.Response) -> list[str]:
    return [m["name"] for m in data_of(response)["meetings"]]


async def test_a_join_that_commits_inside_a_hosts_rename_is_invalidated(
    client: httpx.AsyncClient,
) -> None:
    host, host_auth = await new_user(client)
    _, member_auth = await new_user(client)
    meeting = await create_meeting(client, host_auth, "Before")
    cache: Any = client.app.state.cache  # type: ignore[attr-defined]

    async with open_write(client) as uow:
        service = MeetingService(uow, cache)
        await service.update(
            uuid.UUID(meeting["id"]), uuid.UUID(host["id"]), MeetingUpdate(name="After")
        )  # flushed, not committed
        joined = await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=member_auth)
        assert joined.status_code == 200, joined.text
        # The joiner reads between the two commits and caches what it sees: "Before".
        between = await client.get(f"{MEETINGS}/joined", headers=member_auth)
        assert joined_names(between) == ["Before"]

    after = await client.get(f"{MEETINGS}/joined", headers=member_auth)
    assert joined_names(after) == ["After"]
    details = data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=member_auth))
    assert details["name"] == "After"


async def test_a_rename_racing_the_same_users_join_shows_the_new_name(
    client: httpx.AsyncClient,
) -> None:
    _, host_auth = await new_user(client)
    member, member_auth = await new_user(client)
    meeting = await create_meeting(client, host_auth)
    cache: Any = client.app.state.cache  # type: ignore[attr-defined]
    settings: Any = client.app.state.settings  # type: ignore[attr-defined]
    principal = Principal.from_profile(
        data_of(await client.get(f"{API}/auth/me", headers=member_auth))["user"]
        | {"tokenVersion": 0}
    )

    async with open_write(client) as uow:
        await AuthService(uow, cache, settings).update_profile(
            principal, UpdateProfileRequest(username="renamed_member")
        )  # flushed, not committed
        joined = await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=member_auth)
        assert joined.status_code == 200, joined.text
        before = data_of(await client.get(f"{MEETINGS}/{meeting['id']}/participants/public"))
        assert [p["name"] for p in before] == [member["username"]]

    after = data_of(await client.get(f"{MEETINGS}/{meeting['id']}/participants/public"))
    assert [p["name"] for p in after] == ["renamed_member"]
    listed = data_of(
        await client.get(f"{MEETINGS}/{meeting['id']}/participants", headers=host_auth)
    )
    assert [p["name"] for p in listed] == ["renamed_member"]
