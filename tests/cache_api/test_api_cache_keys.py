"""User input in keys (`search`, `sessionId`): glob characters, `:`, spaces and non-ASCII
never reach a key raw; spellings the database treats alike share a key; invalidation
still finds every key."""

from __future__ import annotations

import re

import httpx
import pytest
from cache_api_helpers import count_sql, session_url
from redis.asyncio import Redis

from helpers import API
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, new_user

RAW = re.compile(r"[*?\[\]\\:\s]")
NASTY = ["a*b", "wh?t", "[x]", "back\\slash", "a:b", "with space", "Ärzte 会議 🎉", "100%"]


def user_part(key: str, prefix: str) -> str:
    assert key.startswith(prefix), key
    return key[len(prefix) :]


async def names(client: httpx.AsyncClient, auth: dict[str, str], search: str) -> list[str]:
    page = data_of(await client.get(MEETINGS, params={"search": search}, headers=auth))
    return [m["name"] for m in page["meetings"]]


async def test_search_terms_are_encoded_in_keys_and_cached_like_any_page(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    host, auth = await new_user(client)
    for term in NASTY:
        await create_meeting(client, auth, f"x {term} y")
    for term in NASTY:
        assert await names(client, auth, term) == [f"x {term} y"]  # a miss
        with count_sql(client) as statements:
            assert await names(client, auth, term) == [f"x {term} y"]
        assert statements == [], term

    prefix = f"meeting:list:{host['id']}:page:1:limit:10:search:"
    found = [k.decode() for k in await clean_redis.keys("meeting:list:*")]
    assert len(found) == len(NASTY)
    for key in found:
        assert not RAW.search(user_part(key, prefix)), key


@pytest.mark.parametrize(
    "spellings",
    [["Ärzte", "ärzte", "ÄRZTE", "  Ärzte  ", "A\u0308rzte"], ["A*B", "a*b"], ["X:Y", "x:y"]],
)
async def test_spellings_the_database_treats_alike_share_a_key(
    client: httpx.AsyncClient, clean_redis: Redis, spellings: list[str]
) -> None:
    _, auth = await new_user(client)
    stored = spellings[1].strip()
    await create_meeting(client, auth, f"Meeting {stored}")
    await create_meeting(client, auth, "Unrelated")
    first = await names(client, auth, spellings[0])
    assert first == [f"Meeting {stored}"]
    for spelling in spellings[1:]:
        with count_sql(client) as statements:
            assert await names(client, auth, spelling) == first
        assert statements == [], spelling  # the same key: a hit
    assert len(await clean_redis.keys("meeting:list:*")) == 1


async def test_writes_invalidate_pages_with_encoded_search_terms(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    meetings = {term: await create_meeting(client, auth, f"x {term} y") for term in NASTY}
    for term in NASTY:
        await names(client, auth, term)  # cached
    for term in NASTY:
        await create_meeting(client, auth, f"new {term}")
        assert await names(client, auth, term.upper()) == [f"new {term}", f"x {term} y"]
        meeting = meetings[term]
        data_of(await client.delete(f"{MEETINGS}/{meeting['id']}", headers=auth))
        assert await names(client, auth, term) == [f"new {term}"]


SESSION_IDS = ["s*?[x]\\", "a:b:c", "with space", "ünï 会 🎉", "Abc", "abc", "100%", "a%3Ab"]


async def test_session_ids_are_encoded_in_keys_and_stay_distinct(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    for i, session_id in enumerate(SESSION_IDS):
        guest = {"name": f"Guest {i}", "sessionId": session_id}
        data_of(await client.post(f"{API}/public-users", json=guest), 201)
    for i, session_id in enumerate(SESSION_IDS):
        assert data_of(await client.get(session_url(session_id)))["name"] == f"Guest {i}"
        with count_sql(client) as statements:
            again = data_of(await client.get(session_url(session_id)))
        assert statements == [], session_id
        assert again["sessionId"] == session_id

    found = [k.decode() for k in await clean_redis.keys("public_user:*")]
    assert len(found) == len(SESSION_IDS)  # "Abc" and "abc" are different secrets
    for key in found:
        assert not RAW.search(user_part(key, "public_user:")), key

    for i, session_id in enumerate(SESSION_IDS):
        data_of(await client.put(session_url(session_id), json={"name": f"Renamed {i}"}))
        assert data_of(await client.get(session_url(session_id)))["name"] == f"Renamed {i}"
    # No other guest was touched: every key was invalidated exactly, none by pattern.
    for i, session_id in enumerate(SESSION_IDS):
        assert data_of(await client.get(session_url(session_id)))["name"] == f"Renamed {i}"
