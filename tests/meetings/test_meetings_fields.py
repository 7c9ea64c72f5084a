"""The fields the web client sends and reads (CONTRACT §3): `title` as another spelling of
`name`, `description` and `duration`, in every meeting shape and the public view."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from meeting_helpers import MEETINGS, create_meeting, data_of, iso, new_user

from cache_api.cache_api_helpers import decode_entry
from gomeet.cache import keys

START = "2031-05-04T10:30:00+00:00"
PUBLIC_FIELDS = {
    "id",
    "name",
    "title",
    "description",
    "startTime",
    "duration",
    "isActive",
    "hostId",
    "host",
    "participantCount",
}


def fields_of(meeting: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    return meeting["name"], meeting["title"], meeting["description"], meeting["duration"]


async def every_shape(client: httpx.AsyncClient, auth: dict[str, str], meeting_id: str) -> Any:
    """The meeting as the details, each list, and the public view show it."""
    shapes = {
        "details": data_of(await client.get(f"{MEETINGS}/{meeting_id}", headers=auth)),
        "public": data_of(await client.get(f"{MEETINGS}/{meeting_id}/public")),
    }
    lists = {
        "list": data_of(await client.get(MEETINGS, headers=auth))["meetings"],
        "upcoming": data_of(await client.get(f"{MEETINGS}/upcoming", headers=auth)),
    }
    for name, meetings in lists.items():
        shapes[name] = next(m for m in meetings if m["id"] == meeting_id)
    return shapes


async def test_the_web_clients_create_body_is_stored_and_returned_everywhere(
    client: httpx.AsyncClient,
) -> None:
    """`{name, description, startTime, duration}`, as the client's create form sends it."""
    host, auth = await new_user(client)
    body = {
        "name": "Quarterly review",
        "description": "Numbers, then questions.\nBring the slides.",
        "startTime": iso(timedelta(days=3)),
        "duration": 90,
    }
    created = data_of(await client.post(MEETINGS, json=body, headers=auth), 201)
    expected = ("Quarterly review", "Quarterly review", body["description"], 90)
    assert fields_of(created) == expected
    for _ in range(2):  # a miss, then the cached JSON
        for name, shape in (await every_shape(client, auth, created["id"])).items():
            assert fields_of(shape) == expected, name
    public = data_of(await client.get(f"{MEETINGS}/{created['id']}/public"))
    assert set(public) == PUBLIC_FIELDS
    assert public["hostId"] == host["id"]
    assert public["host"] == {"username": host["username"], "avatarUrl": host["avatarUrl"]}


async def test_the_cached_details_carry_the_new_fields(
    client: httpx.AsyncClient,
) -> None:
    _, auth = await new_user(client)
    meeting = await create_meeting(client, auth, "Cached", description="On file", duration=15)
    data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))
    redis = client.app.state.redis  # type: ignore[attr-defined]
    raw = await redis.get(keys.meeting_details(meeting["id"]).key)
    assert raw is not None
    cached = decode_entry(raw)
    assert fields_of(cached) == ("Cached", "Cached", "On file", 15)


async def test_title_is_accepted_for_name_on_create(client: httpx.AsyncClient) -> None:
    _, auth = await new_user(client)
    created = data_of(
        await client.post(MEETINGS, json={"title": "  Retro ", "startTime": START}, headers=auth),
        201,
    )
    assert fields_of(created) == ("Retro", "Retro", None, None)
    same = data_of(
        await client.post(
            MEETINGS, json={"name": "Retro", "title": " Retro", "startTime": START}, headers=auth
        ),
        201,
    )
    assert same["name"] == same["title"] == "Retro"


async def test_duration_bounds_and_empty_description_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    _, auth = await new_user(client)
    for duration in (1, 1440):
        meeting = await create_meeting(client, auth, duration=duration, description="  ")
        assert meeting["duration"] == duration
        assert meeting["description"] is None  # blank is no description
    tabs = await create_meeting(client, auth, description="a\tb\r\nc", duration=None)
    assert (tabs["description"], tabs["duration"]) == ("a\tb\r\nc", None)


async def test_the_web_clients_update_body_changes_the_meeting(client: httpx.AsyncClient) -> None:
    """`PUT {title, description, duration}` used to answer 200 and change nothing."""
    _, auth = await new_user(client)
    meeting = await create_meeting(client, auth, "Before", description="old", duration=30)
    data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))  # cached
    body = {"title": "After", "description": "new agenda", "duration": 45}
    updated = data_of(await client.put(f"{MEETINGS}/{meeting['id']}", json=body, headers=auth))
    assert fields_of(updated) == ("After", "After", "new agenda", 45)
    assert updated["updatedAt"] > meeting["updatedAt"]
    for name, shape in (await every_shape(client, auth, meeting["id"])).items():
        assert fields_of(shape) == ("After", "After", "new agenda", 45), name


async def test_update_leaves_absent_fields_alone_and_null_clears_the_optional_ones(
    client: httpx.AsyncClient,
) -> None:
    _, auth = await new_user(client)
    meeting = await create_meeting(client, auth, "Keep", description="text", duration=20)
    url = f"{MEETINGS}/{meeting['id']}"
    only_duration = data_of(await client.put(url, json={"duration": 25}, headers=auth))
    assert fields_of(only_duration) == ("Keep", "Keep", "text", 25)
    null_name = data_of(await client.put(url, json={"name": None, "title": None}, headers=auth))
    assert null_name["name"] == "Keep"
    cleared = data_of(
        await client.put(url, json={"description": None, "duration": None}, headers=auth)
    )
    assert fields_of(cleared) == ("Keep", "Keep", None, None)
    described = data_of(await client.put(url, json={"description": "again"}, headers=auth))
    blanked = data_of(await client.put(url, json={"description": ""}, headers=auth))
    assert (described["description"], blanked["description"]) == ("again", None)
    assert data_of(await client.get(url, headers=auth)) == blanked
