"""Writes and what they invalidate, through the API (issue 7): invalidations that outlive
their instance, a drain that does not wait for writers, a commit cancelled midway, guest
renames, search spellings, value sizes."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
from cache_api_helpers import session_url, wait_until
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.engine import make_url

from helpers import API, outbox_applied, register_user
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, new_user

DEAD_REDIS = "redis://127.0.0.1:1/0"


async def test_a_logout_an_instance_could_not_deliver_is_applied_by_another_after_it_stops(
    app_client: Callable[..., Any],
) -> None:
    """The writer's Redis is unreachable: its invalidation stays in the outbox when it
    stops, and the other instance applies it within about a second."""
    async with app_client() as survivor:
        _, access, _ = await register_user(survivor)
        auth = {"Authorization": f"Bearer {access}"}
        assert (await survivor.get(f"{API}/auth/me", headers=auth)).status_code == 200  # cached
        async with app_client(redis_url=DEAD_REDIS) as cut_off:
            response = await cut_off.post(f"{API}/auth/logout", headers=auth)
            assert response.status_code == 200
        # The instance that took the logout is gone; the cached profile still says the
        # token is valid until the survivor drains the record.

        async def refused() -> bool:
            response = await survivor.get(f"{API}/auth/me", headers=auth)
            return response.status_code == 401

        assert await wait_until(refused, rounds=500)


@contextlib.asynccontextmanager
async def write_lock_held(database_url: str) -> AsyncIterator[None]:
    """Another writer holds what deleting outbox records needs: SQLite's write lock, or on
    PostgreSQL a SHARE lock on the table (reads and `FOR UPDATE` still go through)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        writer = sqlite3.connect(str(url.database), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        return
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute("LOCK TABLE cache_outbox IN SHARE MODE")
    try:
        yield
    finally:
        await transaction.rollback()
        await conn.close()


async def test_the_drain_applies_what_is_due_without_waiting_for_a_writer(
    app_client: Callable[..., Any], database_url: str
) -> None:
    """Deleting applied records is bookkeeping: a drain that waited for the database's write
    lock to delete them applied nothing else meanwhile (on SQLite under write load, an
    instance cut off from Redis had its writes served stale by another for over 1 s)."""
    async with app_client() as survivor:
        drain = survivor.app.state.outbox.drain  # type: ignore[attr-defined]
        drain.stop()  # this test drains by hand
        _, access, _ = await register_user(survivor)
        auth = {"Authorization": f"Bearer {access}"}
        assert (await survivor.get(f"{API}/auth/me", headers=auth)).status_code == 200  # cached
        async with app_client(redis_url=DEAD_REDIS) as cut_off:  # its record is handed over
            assert (await cut_off.post(f"{API}/auth/logout", headers=auth)).status_code == 200

        async with write_lock_held(database_url):
            applied = await asyncio.wait_for(drain.drain_once(), timeout=10)
            assert applied == 1
            assert (await survivor.get(f"{API}/auth/me", headers=auth)).status_code == 401
            assert await drain.drain_once() == 0  # applied once, not again while it waits

        await outbox_applied(survivor)  # and deleted once the writer is done


async def test_a_logout_whose_commit_was_cancelled_midway_still_revokes(
    client: httpx.AsyncClient,
) -> None:
    _, access, _ = await register_user(client)
    auth = {"Authorization": f"Bearer {access}"}
    assert (await client.get(f"{API}/auth/me", headers=auth)).status_code == 200  # cached
    engine = client.app.state.engine.sync_engine  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    logout = asyncio.create_task(client.post(f"{API}/auth/logout", headers=auth))

    # The logout's own commit (the one that wrote its outbox record), not the first on the
    # engine: the outbox drain commits a claim about every 0.2 s, and cancelling on one of
    # those cancelled the logout before it had written anything.
    def mark_the_logout(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CACHE_OUTBOX"):
            conn.info["logout"] = True

    def cancel_mid_commit(conn: Any) -> None:
        if conn.info.pop("logout", False):
            loop.call_soon_threadsafe(logout.cancel)  # the client goes away during COMMIT

    event.listen(engine, "before_cursor_execute", mark_the_logout)
    event.listen(engine, "commit", cancel_mid_commit)
    try:
        await asyncio.gather(logout, return_exceptions=True)
    finally:
        event.remove(engine, "commit", cancel_mid_commit)
        event.remove(engine, "before_cursor_execute", mark_the_logout)
    assert logout.cancelled()  # cancelled during its commit, not answered

    async def refused() -> bool:
        response = await client.get(f"{API}/auth/me", headers=auth)
        return response.status_code == 401

    assert await wait_until(refused, rounds=500)


async def test_a_guest_rename_reaches_every_participant_list(
    client: httpx.AsyncClient,
) -> None:
    _, host_auth = await new_user(client)
    meeting = await create_meeting(client, host_auth)
    session_id = f"guest-{uuid.uuid4().hex}"
    data_of(
        await client.post(f"{API}/public-users", json={"name": "Ann", "sessionId": session_id}), 201
    )
    body = {"sessionId": session_id, "meetingId": meeting["id"]}
    data_of(await client.post(f"{API}/public-users/join-meeting", json=body))
    views = [
        (f"{MEETINGS}/{meeting['id']}/participants/public", None),
        (f"{MEETINGS}/{meeting['id']}/participants", host_auth),
    ]

    def names(view: Any) -> list[str]:
        return [p["name"] for p in view]

    for path, auth in views:  # cached
        assert names(data_of(await client.get(path, headers=auth))) == ["Ann"]
    details = data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=host_auth))
    assert names(details["participants"]) == ["Ann"]

    data_of(await client.put(session_url(session_id), json={"name": "Ann B."}))

    for path, auth in views:
        assert names(data_of(await client.get(path, headers=auth))) == ["Ann B."]
    details = data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=host_auth))
    assert names(details["participants"]) == ["Ann B."]
    listed = data_of(await client.get(MEETINGS, headers=host_auth))["meetings"]
    assert names(listed[0]["participants"]) == ["Ann B."]


async def test_search_spellings_agree_with_and_without_the_cache(
    app_client: Callable[..., Any],
) -> None:
    """`Ϊ́` (capital iota, dialytika, acute) folds to `ΐ`; searching either spelling finds the
    meeting, whichever was asked first, cache on or off."""
    searches = ["\u03aa\u0301", "\u0390", "\u0399\u0308\u0301", "\u03b9\u0308\u0301"]
    async with app_client() as cached, app_client(gomeet_cache=False) as uncached:
        _, auth = await new_user(cached)
        await create_meeting(cached, auth, "Meet \u0390")
        await create_meeting(cached, auth, "Other")
        for client in (cached, uncached, cached):
            for search in searches:
                page = data_of(await client.get(MEETINGS, params={"search": search}, headers=auth))
                assert [m["name"] for m in page["meetings"]] == ["Meet \u0390"], (client, search)


async def test_a_value_over_the_size_bound_is_served_but_not_stored(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    """Three meetings of 100 participants with 2 KB avatars: a list page of ~650 KB, over
    the 256 KiB bound (`CacheOptions.max_value_bytes`); one meeting's details (~215 KB) is
    under it."""
    host, auth = await new_user(client)
    avatar = "https://img.test/" + "a" * 2000
    people = [{"name": f"P{i}", "avatarUrl": avatar} for i in range(100)]
    meetings = [
        await create_meeting(client, auth, f"Big {n}", participants=people) for n in range(3)
    ]

    first = data_of(await client.get(MEETINGS, headers=auth))
    again = data_of(await client.get(MEETINGS, headers=auth))
    data_of(await client.get(f"{MEETINGS}/{meetings[0]['id']}", headers=auth))

    assert first == again and len(first["meetings"]) == 3
    page_key = f"meeting:list:{host['id']}:page:1:limit:10:search:"
    assert await clean_redis.exists(page_key) == 0
    assert await clean_redis.exists(f"meeting:details:{meetings[0]['id']}") == 1
