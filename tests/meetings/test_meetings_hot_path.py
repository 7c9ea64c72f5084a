"""The request path of a cached read (issue 8): nothing sent to the thread pool, no
database session made for a request the cache answers, the same answers as before."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from fastapi.dependencies.models import Dependant
from meeting_helpers import MEETINGS, create_meeting, data_of, new_user

from gomeet.deps import UnitOfWorkRoute, get_unit_of_work
from gomeet.routes import original, served_routes
from helpers import API, count_sql, outbox_applied


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _runs_on_the_loop(call: Callable[..., Any]) -> bool:
    """What FastAPI awaits itself; anything else it sends to the thread pool."""
    target = call if inspect.isroutine(call) else getattr(call, "__call__", call)  # noqa: B004
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


async def test_no_endpoint_or_dependency_of_any_route_runs_in_the_thread_pool(
    client: httpx.AsyncClient,
) -> None:
    app = client.app  # type: ignore[attr-defined]
    offenders = {
        f"{call.__module__}.{call.__qualname__} ({route.path_format})"
        for route in served_routes(app)
        if isinstance(getattr(route, "dependant", None), Dependant)
        for call in _calls(route.dependant)
        if not _runs_on_the_loop(call)
    }

    assert sorted(offenders) == []


async def test_every_route_with_a_unit_of_work_runs_inside_one_and_none_has_yield_dependencies(
    client: httpx.AsyncClient,
) -> None:
    """A route whose dependencies take the unit of work must run its handler inside one
    (else every request to it fails); none needs FastAPI's machinery for a `yield`
    dependency (an exit stack and a cancel scope per request), which the unit of work
    replaced."""
    app = client.app  # type: ignore[attr-defined]
    outside, yielding = set(), set()
    for route in served_routes(app):
        if not isinstance(getattr(route, "dependant", None), Dependant):
            continue
        calls = list(_calls(route.dependant))
        if get_unit_of_work in calls and not isinstance(original(route), UnitOfWorkRoute):
            outside.add(route.path_format)
        yielding |= {
            f"{call.__qualname__} ({route.path_format})"
            for call in calls
            if inspect.isasyncgenfunction(call) or inspect.isgeneratorfunction(call)
        }

    assert (sorted(outside), sorted(yielding)) == ([], [])
    assert any(get_unit_of_work in _calls(r.dependant) for r in served_routes(app)
               if isinstance(getattr(r, "dependant", None), Dependant))  # fmt: skip


class CountingSessionmaker:
    """The app's sessionmaker, counting the sessions the requests' units of work make."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.made = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.made += 1
        return self.real(*args, **kwargs)


async def test_a_cached_read_makes_no_database_session_and_a_miss_makes_one(
    client: httpx.AsyncClient,
) -> None:
    _, host = await new_user(client)
    meeting = await create_meeting(client, host)
    path = f"{MEETINGS}/{meeting['id']}"
    await outbox_applied(client)  # no invalidation on its way deletes what is filled now
    first = data_of(await client.get(path, headers=host))  # fills the cache
    me = data_of(await client.get(f"{API}/auth/me", headers=host))
    state = client.app.state  # type: ignore[attr-defined]
    counting = CountingSessionmaker(state.sessionmaker)
    state.sessionmaker = counting
    try:
        for _ in range(3):
            assert data_of(await client.get(path, headers=host)) == first
            assert data_of(await client.get(f"{API}/auth/me", headers=host)) == me
        assert counting.made == 0

        missing = await client.get(f"{MEETINGS}/{uuid.uuid4()}", headers=host)

        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "MEETING_NOT_FOUND"
        assert counting.made == 1
    finally:
        state.sessionmaker = counting.real


async def test_a_meetings_details_and_participants_load_in_few_statements(
    client: httpx.AsyncClient,
) -> None:
    _, host = await new_user(client)
    guests = [await new_user(client) for _ in range(3)]
    meeting = await create_meeting(client, host, participants=[{"name": "Ann"}])
    path = f"{MEETINGS}/{meeting['id']}"
    for _, auth in guests:
        data_of(await client.post(f"{path}/join", headers=auth))
    data_of(await client.get(f"{API}/auth/me", headers=host))  # the caller's profile cached
    await outbox_applied(client)  # the joins' invalidations: none lands during the reads

    with count_sql(client) as details_miss:
        details = data_of(await client.get(path, headers=host))
    with count_sql(client) as participants_miss:
        participants = data_of(await client.get(f"{path}/participants", headers=host))

    assert len(details["participants"]) == 4
    assert details["host"]["id"] == details["hostId"]
    assert sorted(p["id"] for p in participants) == sorted(p["id"] for p in details["participants"])
    assert len(details_miss) <= 2  # meeting, host and participants (issue 8: at most 2)
    assert len(participants_miss) == 1  # details cached: the participant rows only


async def test_a_page_of_meetings_loads_with_its_total_in_one_statement(
    client: httpx.AsyncClient,
) -> None:
    """The total rides on the page's rows; only a page past the end counts on its own."""
    _, host = await new_user(client)
    meeting = await create_meeting(client, host, "First", participants=[{"name": "Ann"}])
    for name in ("Second", "Third"):
        await create_meeting(client, host, name)
    data_of(await client.get(f"{API}/auth/me", headers=host))  # the caller's profile cached
    await outbox_applied(client)

    with count_sql(client) as page_miss:
        page = data_of(await client.get(f"{MEETINGS}?page=1&limit=2", headers=host))
    with count_sql(client) as last_page_miss:
        last = data_of(await client.get(f"{MEETINGS}?page=2&limit=2", headers=host))
    with count_sql(client) as past_the_end:
        beyond = data_of(await client.get(f"{MEETINGS}?page=5&limit=2", headers=host))

    assert [m["name"] for m in page["meetings"]] == ["Third", "Second"]
    assert [m["name"] for m in last["meetings"]] == ["First"]
    assert last["meetings"][0]["id"] == meeting["id"]
    assert len(last["meetings"][0]["participants"]) == 1
    for body in (page, last, beyond):
        assert body["pagination"]["total"] == 3
        assert body["pagination"]["totalPages"] == 2
    assert beyond["meetings"] == []
    assert len(page_miss) == 2  # the page with its total, then its participants (select-in)
    assert len(last_page_miss) == 2
    assert len(past_the_end) == 2  # no row to carry the total: the page, then a count
