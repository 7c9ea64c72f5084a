"""After a write has returned, reads through any instance are fresh.

Writes go through instance A, reads through instance B (or through A itself), with the
in-process tier off and on. Every read is made twice before the write, so that what
B serves comes from its cache (and, with the tier on, from the tier: checked). With
the tier on and two instances, B learns of the invalidation over pub/sub: its reads are
repeated for a bounded while (the tier's TTL is set to 60 s, so only the invalidation can
make them fresh). tests/meetings/test_meetings_freshness.py covers every meeting write on
one instance; here are the same families across instances, and the account families.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cache_api_helpers import FLAG, build_world, eventually, session_url, wait_until

from admin.admin_helpers import make_admin
from helpers import API, DEFAULT_PASSWORD, bearer, login
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, iso, new_user
from support.apps import l1_live, l1_report

TOPOLOGIES = [
    pytest.param(False, False, id="one-instance-l1-off"),
    pytest.param(False, True, id="one-instance-l1-on"),
    pytest.param(True, False, id="two-instances-l1-off"),
    pytest.param(True, True, id="two-instances-l1-on"),
]


@contextlib.asynccontextmanager
async def instances(
    app_client: Callable[..., Any], two: bool, l1: bool
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(writer, reader): two apps on one database and one Redis, or one app twice."""
    settings = {"gomeet_cache_l1": l1, "gomeet_cache_l1_ttl": 60}
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(app_client(**settings))
        b = await stack.enter_async_context(app_client(**settings)) if two else a
        for client in {a, b}:
            if l1:  # the tier is served only once its invalidation subscription is live
                assert await wait_until(functools.partial(l1_live, client))
        yield a, b


class Reader:
    """Reads through instance B: primed (read twice) before a write, checked after it."""

    def __init__(self, b: httpx.AsyncClient, window: bool) -> None:
        self.b = b
        self.window = window  # B may serve its tier until the pub/sub message arrives

    async def get(self, path: str, auth: dict[str, str] | None) -> httpx.Response:
        return await self.b.get(path, headers=auth)

    async def prime(self, path: str, auth: dict[str, str] | None) -> None:
        for _ in range(2):
            await self.get(path, auth)

    async def fresh(
        self, path: str, auth: dict[str, str] | None, ok: Callable[[httpx.Response], Any]
    ) -> httpx.Response:
        async def fetch() -> httpx.Response:
            return await self.get(path, auth)

        return await eventually(fetch, lambda r: bool(ok(r)), window=self.window)


def data(response: httpx.Response) -> Any:
    return response.json()["data"] if response.status_code == 200 else None


def names(response: httpx.Response) -> list[str] | None:
    page = data(response)
    if page is None:
        return None
    meetings = page["meetings"] if isinstance(page, dict) else page
    return [m["name"] for m in meetings]


View = tuple[str, dict[str, str] | None, Callable[[httpx.Response], Any]]


async def check(write: Callable[[], Awaitable[Any]], reader: Reader, views: Sequence[View]) -> None:
    """Prime every view through B, make the write through A, then every view is fresh."""
    for path, auth, _ in views:
        await reader.prime(path, auth)
    await write()
    for path, auth, ok in views:
        await reader.fresh(path, auth, ok)


@pytest.mark.parametrize(("two", "l1"), TOPOLOGIES)
async def test_meeting_writes_are_seen_through_every_instance(
    app_client: Callable[..., Any], two: bool, l1: bool
) -> None:
    async with instances(app_client, two, l1) as (a, b):
        world = await build_world(a)
        host, member = world.host_auth, world.member_auth
        m = f"{MEETINGS}/{world.meeting['id']}"
        reader = Reader(b, window=two and l1)
        _, newcomer = await new_user(a)

        async def rename() -> None:
            body = {"name": "Board sync", "startTime": iso(timedelta(days=3))}
            data_of(await a.put(m, json=body, headers=host))

        renamed: list[View] = [
            (m, host, lambda r: data(r)["name"] == "Board sync"),
            (f"{m}/public", None, lambda r: data(r)["name"] == "Board sync"),
            (MEETINGS, host, lambda r: "Board sync" in (names(r) or [])),
            (f"{MEETINGS}?search=team", host, lambda r: names(r) == ["Team retro"]),
            (f"{MEETINGS}/upcoming", host, lambda r: names(r) == ["Board sync"]),
            (f"{MEETINGS}/joined", member, lambda r: names(r) == ["Board sync"]),
        ]
        await check(rename, reader, renamed)
        if l1:  # what B served came from its in-process tier
            assert (await l1_report(b))["items"] > 0

        async def join() -> None:
            data_of(await a.post(f"{m}/join", headers=newcomer))

        joined: list[View] = [
            (f"{m}/participants", host, lambda r: len(data(r)) == 2),
            (f"{m}/participants/public", None, lambda r: len(data(r)) == 2),
            (m, newcomer, lambda r: r.status_code == 200),  # was 403
            (f"{MEETINGS}/joined", newcomer, lambda r: names(r) == ["Board sync"]),
        ]
        await check(join, reader, joined)

        async def leave() -> None:
            data_of(await a.post(f"{m}/leave", headers=newcomer))

        left: list[View] = [
            (f"{m}/public", None, lambda r: data(r)["participantCount"] == 1),
            (f"{m}/participants", host, lambda r: sum(p["isActive"] for p in data(r)) == 1),
        ]
        await check(leave, reader, left)

        async def start() -> None:
            data_of(await a.patch(f"{m}/start", headers=host))

        await check(start, reader, [(m, member, lambda r: data(r)["isActive"] is True)])

        async def create() -> None:
            await create_meeting(a, host, "Team later", timedelta(days=5))

        created: list[View] = [
            (f"{MEETINGS}?search=team", host, lambda r: names(r) == ["Team later", "Team retro"]),
            (f"{MEETINGS}/upcoming", host, lambda r: names(r) == ["Board sync", "Team later"]),
        ]
        await check(create, reader, created)

        async def delete() -> None:
            data_of(await a.delete(m, headers=host))

        deleted: list[View] = [
            (m, host, lambda r: r.status_code == 404),
            (f"{m}/participants/public", None, lambda r: r.status_code == 404),
            (f"{MEETINGS}/joined", member, lambda r: names(r) == []),
            (f"{MEETINGS}/upcoming", host, lambda r: names(r) == ["Team later"]),
        ]
        await check(delete, reader, deleted)


@pytest.mark.parametrize(("two", "l1"), TOPOLOGIES)
async def test_account_guest_and_flag_writes_are_seen_through_every_instance(
    app_client: Callable[..., Any], two: bool, l1: bool
) -> None:
    async with instances(app_client, two, l1) as (a, b):
        _, admin = await make_admin(a)
        world = await build_world(a)
        me = f"{API}/auth/me"
        reader = Reader(b, window=two and l1)

        async def update_profile() -> None:
            body = {"username": "renamed_member", "avatarUrl": "https://img.test/m.png"}
            data_of(await a.put(f"{API}/auth/update-profile", json=body, headers=world.member_auth))

        def renamed(r: httpx.Response) -> bool:
            return bool(data(r)["user"]["username"] == "renamed_member")

        meeting = f"{MEETINGS}/{world.meeting['id']}"
        copies: list[View] = [
            (me, world.member_auth, renamed),
            (
                meeting,
                world.host_auth,
                lambda r: data(r)["participants"][0]["name"] == "renamed_member",
            ),
        ]
        await check(update_profile, reader, copies)

        async def rename_guest() -> None:
            data_of(await a.put(session_url(world.session_id), json={"name": "Guest 2"}))

        guest: list[View] = [
            (session_url(world.session_id), None, lambda r: data(r)["name"] == "Guest 2")
        ]
        await check(rename_guest, reader, guest)

        async def set_flag() -> None:
            body = {"flagName": FLAG, "enabled": False}
            data_of(await a.post(f"{API}/feature-flags/set", json=body, headers=admin))

        flag: list[View] = [
            (f"{API}/feature-flags/{FLAG}", world.host_auth, lambda r: data(r)["enabled"] is False)
        ]
        await check(set_flag, reader, flag)

        async def logout() -> None:
            data_of(await a.post(f"{API}/auth/logout", headers=world.member_auth))

        # The member's profile is cached (B served /auth/me from it): the old token still fails.
        await check(logout, reader, [(me, world.member_auth, lambda r: r.status_code == 401)])

        new_tokens: dict[str, str] = {}

        async def change_password() -> None:
            body = {"currentPassword": DEFAULT_PASSWORD, "newPassword": "An0ther-Passw0rd!y"}
            pair = data_of(
                await a.put(f"{API}/auth/update-password", json=body, headers=world.host_auth)
            )
            new_tokens.update(bearer(pair["accessToken"]))

        await check(
            change_password, reader, [(me, world.host_auth, lambda r: r.status_code == 401)]
        )
        data_of(await b.get(me, headers=new_tokens))
        relogged = await login(b, world.host["email"], "An0ther-Passw0rd!y")
        data_of(await b.get(me, headers=bearer(relogged["accessToken"])))
