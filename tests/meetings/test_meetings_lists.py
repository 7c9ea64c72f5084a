"""The host's list (pagination, search), upcoming, past and joined lists."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from meeting_helpers import MEETINGS, create_meeting, data_of, error_code, new_user
from redis.asyncio import Redis


async def names(client: httpx.AsyncClient, auth: dict[str, str], query: str = "") -> list[str]:
    data = data_of(await client.get(f"{MEETINGS}{query}", headers=auth))
    return [m["name"] for m in data["meetings"]]


async def test_list_shows_only_the_callers_meetings_newest_first_paginated(
    client: httpx.AsyncClient,
) -> None:
    _, auth = await new_user(client)
    _, other = await new_user(client)
    for i in range(5):
        await create_meeting(client, auth, f"M{i}")
    await create_meeting(client, other, "Not mine")

    first = data_of(await client.get(f"{MEETINGS}?page=1&limit=2", headers=auth))
    assert [m["name"] for m in first["meetings"]] == ["M4", "M3"]
    assert first["pagination"] == {"page": 1, "limit": 2, "total": 5, "totalPages": 3}
    assert first["meetings"][0]["host"]["id"] == first["meetings"][0]["hostId"]
    assert await names(client, auth, "?page=3&limit=2") == ["M0"]
    beyond = data_of(await client.get(f"{MEETINGS}?page=4&limit=2", headers=auth))
    assert beyond["meetings"] == []
    assert beyond["pagination"]["total"] == 5
    default = data_of(await client.get(MEETINGS, headers=auth))
    assert default["pagination"] == {"page": 1, "limit": 10, "total": 5, "totalPages": 1}


async def test_an_empty_list_has_zero_pages(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    data = data_of(await client.get(MEETINGS, headers=auth))
    assert data == {
        "meetings": [],
        "pagination": {"page": 1, "limit": 10, "total": 0, "totalPages": 0},
    }


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("plan", ["Sprint PLANNING", "planning"]),
        ("PLAN", ["Sprint PLANNING", "planning"]),
        ("%", ["100% done"]),
        ("_", ["snake_case"]),
        ("e_c", ["snake_case"]),
        ("0%", ["100% done"]),
        ("[", ["brackets [x]"]),
        ("*", ["star * glob?"]),
        ("r *", ["star * glob?"]),
        (":", ["a:b"]),
        ("café", ["Café Crème"]),
        ("議", ["会議 mtg"]),
        ("  done ", ["100% done"]),
        ("nothing", []),
    ],
)
async def test_search_is_a_case_insensitive_literal_substring(
    client: httpx.AsyncClient, search: str, expected: list[str]
) -> None:
    _, auth = await new_user(client)
    for name in [
        "planning",
        "Sprint PLANNING",
        "100% done",
        "1000 things",
        "snake_case",
        "snakeXcase",
        "brackets [x]",
        "star * glob?",
        "a:b",
        "Café Crème",
        "会議 mtg",
    ]:
        await create_meeting(client, auth, name)
    response = await client.get(MEETINGS, params={"search": search}, headers=auth)
    data = data_of(response)
    assert sorted(m["name"] for m in data["meetings"]) == sorted(expected)
    assert data["pagination"]["total"] == len(expected)


async def test_search_folds_case_of_non_ascii_letters(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    await create_meeting(client, auth, "Ärzte Treffen")
    await create_meeting(client, auth, "ÉTÉ")
    assert await names(client, auth, "?search=ärzte") == ["Ärzte Treffen"]
    assert await names(client, auth, "?search=ÄRZTE") == ["Ärzte Treffen"]
    assert await names(client, auth, "?search=été") == ["ÉTÉ"]


async def test_spellings_of_one_search_share_results_and_cache_key(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    """Surrounding spaces, case and Unicode composition do not change what is searched."""
    _, auth = await new_user(client)
    await create_meeting(client, auth, "Ärzte Treffen")
    await create_meeting(client, auth, "Other")
    decomposed = unicodedata.normalize("NFD", "  ÄRZTE ")
    for search in ("  ÄRZTE ", "ärzte", decomposed):
        assert await names(client, auth, f"?search={quote(search)}") == ["Ärzte Treffen"]
    keys = [k.decode() async for k in clean_redis.scan_iter("meeting:list:*")]
    assert len(keys) == 1
    assert keys[0].endswith(":search:" + quote("ärzte"))


@pytest.mark.parametrize("search", ["nul\x00", "tab\tin", "line\nbreak", "del\x7f"])
async def test_search_with_control_characters_is_400(
    client: httpx.AsyncClient, search: str
) -> None:
    _, auth = await new_user(client)
    response = await client.get(MEETINGS, params={"search": search}, headers=auth)
    assert error_code(response, 400) == "VALIDATION_ERROR"


@pytest.mark.parametrize("path", ["", "/past", "/joined"])
@pytest.mark.parametrize(
    "query",
    ["page=0", "page=-1", "limit=0", "limit=101", "limit=abc", "page=1.5", "page=", "limit=1e3"],
)
async def test_out_of_range_pagination_is_400(
    client: httpx.AsyncClient, path: str, query: str
) -> None:
    _, auth = await new_user(client)
    response = await client.get(f"{MEETINGS}{path}?{query}", headers=auth)
    assert error_code(response, 400) == "VALIDATION_ERROR"


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc"])
async def test_upcoming_rejects_a_bad_limit(client: httpx.AsyncClient, query: str) -> None:
    _, auth = await new_user(client)
    response = await client.get(f"{MEETINGS}/upcoming?{query}", headers=auth)
    assert error_code(response, 400) == "VALIDATION_ERROR"


async def test_search_longer_than_100_characters_is_400(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    response = await client.get(MEETINGS, params={"search": "x" * 101}, headers=auth)
    assert error_code(response, 400) == "VALIDATION_ERROR"


async def test_upcoming_lists_future_meetings_soonest_first(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    _, other = await new_user(client)
    await create_meeting(client, auth, "in 3 days", timedelta(days=3))
    await create_meeting(client, auth, "yesterday", timedelta(days=-1))
    await create_meeting(client, auth, "in 1 hour", timedelta(hours=1))
    await create_meeting(client, other, "not mine", timedelta(hours=2))
    for i in range(6):
        await create_meeting(client, auth, f"later {i}", timedelta(days=10 + i))

    upcoming = data_of(await client.get(f"{MEETINGS}/upcoming", headers=auth))
    assert isinstance(upcoming, list)
    assert [m["name"] for m in upcoming] == [
        "in 1 hour",
        "in 3 days",
        "later 0",
        "later 1",
        "later 2",
    ]
    two = data_of(await client.get(f"{MEETINGS}/upcoming?limit=2", headers=auth))
    assert [m["name"] for m in two] == ["in 1 hour", "in 3 days"]
    starts = [datetime.fromisoformat(m["startTime"]) for m in upcoming]
    assert starts == sorted(starts)


async def test_past_lists_earlier_meetings_latest_first(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    _, other = await new_user(client)
    await create_meeting(client, auth, "last week", timedelta(days=-7))
    await create_meeting(client, auth, "tomorrow", timedelta(days=1))
    await create_meeting(client, auth, "yesterday", timedelta(days=-1))
    await create_meeting(client, auth, "last year", timedelta(days=-365))
    await create_meeting(client, other, "not mine", timedelta(days=-2))

    past = data_of(await client.get(f"{MEETINGS}/past", headers=auth))
    assert [m["name"] for m in past["meetings"]] == ["yesterday", "last week", "last year"]
    assert past["pagination"] == {"page": 1, "limit": 10, "total": 3, "totalPages": 1}
    second = data_of(await client.get(f"{MEETINGS}/past?page=2&limit=2", headers=auth))
    assert [m["name"] for m in second["meetings"]] == ["last year"]


async def test_joined_lists_meetings_the_caller_joined_latest_first(
    client: httpx.AsyncClient,
) -> None:
    _, host = await new_user(client)
    me, auth = await new_user(client)
    first = await create_meeting(client, host, "first")
    second = await create_meeting(client, host, "second")
    await create_meeting(client, host, "never joined")
    mine = await create_meeting(client, auth, "my own")

    assert data_of(await client.get(f"{MEETINGS}/joined", headers=auth))["meetings"] == []
    for meeting in (first, second):
        data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=auth))
    data_of(await client.post(f"{MEETINGS}/{first['id']}/leave", headers=auth))

    joined = data_of(await client.get(f"{MEETINGS}/joined", headers=auth))
    assert [m["name"] for m in joined["meetings"]] == ["second", "first"]
    assert joined["pagination"] == {"page": 1, "limit": 10, "total": 2, "totalPages": 1}
    # A meeting one has left is still listed, with the caller's row inactive.
    left = joined["meetings"][1]["participants"]
    assert [(p["userId"], p["isActive"]) for p in left] == [(me["id"], False)]
    page_two = data_of(await client.get(f"{MEETINGS}/joined?page=2&limit=1", headers=auth))
    assert [m["name"] for m in page_two["meetings"]] == ["first"]
    # Hosting is not joining.
    assert mine["id"] not in {m["id"] for m in joined["meetings"]}
