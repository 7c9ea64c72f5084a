"""Helpers for the end-to-end cache tests: SQL counting, a data set that touches every
cache family, the contract's key names and TTLs, and raw looks into Redis."""

from __future__ import annotations

import asyncio
import socket
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson
from redis.asyncio import Redis

from gomeet.cache import Family
from helpers import API
from helpers import count_sql as count_sql  # re-exported: shared with the meetings tests
from helpers import outbox_applied as outbox_applied
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, new_user

T = TypeVar("T")
Auth = dict[str, str]

FLAG = "use_webrtc_mesh"
ZLIB_MARKER = b"~zlib:"  # gomeet.cache.codec: large values, zlib-compressed behind it


def session_url(session_id: str) -> str:
    return f"{API}/public-users/session/{quote(session_id, safe='')}"


@dataclass
class World:
    """A host with an upcoming meeting "Team sync" (joined by a member) and a past one
    "Team retro"; a guest with a public session."""

    host: dict[str, Any]
    host_auth: Auth
    member: dict[str, Any]
    member_auth: Auth
    meeting: dict[str, Any]
    past: dict[str, Any]
    session_id: str


async def build_world(client: httpx.AsyncClient) -> World:
    host, host_auth = await new_user(client)
    member, member_auth = await new_user(client)
    meeting = await create_meeting(client, host_auth, "Team sync", timedelta(days=2))
    past = await create_meeting(client, host_auth, "Team retro", timedelta(days=-2))
    data_of(await client.post(f"{MEETINGS}/{meeting['id']}/join", headers=member_auth))
    session_id = f"guest-{uuid.uuid4().hex}"
    guest = {"name": "Guest", "sessionId": session_id}
    data_of(await client.post(f"{API}/public-users", json=guest), 201)
    return World(host, host_auth, member, member_auth, meeting, past, session_id)


@dataclass(frozen=True)
class Read:
    """One cached read through the API and the key CONTRACT §4 says it fills."""

    family: Family
    path: str
    auth: Auth | None
    key: str
    params: tuple[tuple[str, str], ...] = ()

    async def fetch(self, client: httpx.AsyncClient) -> Any:
        """The response's `data` (asserting a 200)."""
        return data_of(await client.get(self.path, params=self.params, headers=self.auth))


def family_reads(w: World) -> dict[Family, Read]:
    """For every family, a read that fills it, with the key written out as the contract
    spells it (not built with `gomeet.cache.keys`, which is what is being checked)."""
    host, member, meeting = w.host["id"], w.member["id"], w.meeting["id"]
    return {
        Family.USER_PROFILE: Read(
            Family.USER_PROFILE, f"{API}/auth/me", w.host_auth, f"user:profile:{host}"
        ),
        Family.MEETING_DETAILS: Read(
            Family.MEETING_DETAILS,
            f"{MEETINGS}/{meeting}",
            w.host_auth,
            f"meeting:details:{meeting}",
        ),
        Family.PARTICIPANT_LIST: Read(
            Family.PARTICIPANT_LIST,
            f"{MEETINGS}/{meeting}/participants",
            w.host_auth,
            f"meeting:participants:{meeting}",
        ),
        Family.FEATURE_FLAG: Read(
            Family.FEATURE_FLAG, f"{API}/feature-flags/{FLAG}", w.host_auth, f"feature_flag:{FLAG}"
        ),
        Family.PUBLIC_USER: Read(
            Family.PUBLIC_USER, session_url(w.session_id), None, f"public_user:{w.session_id}"
        ),
        Family.MEETING_LIST: Read(
            Family.MEETING_LIST,
            MEETINGS,
            w.host_auth,
            f"meeting:list:{host}:page:1:limit:10:search:team",
            (("search", "TEAM"),),
        ),
        Family.MEETING_JOINED: Read(
            Family.MEETING_JOINED,
            f"{MEETINGS}/joined",
            w.member_auth,
            f"meeting:joined:{member}:page:1:limit:10",
        ),
        Family.MEETING_UPCOMING: Read(
            Family.MEETING_UPCOMING,
            f"{MEETINGS}/upcoming",
            w.host_auth,
            f"meeting:upcoming:{host}:limit:5",
        ),
        Family.MEETING_PAST: Read(
            Family.MEETING_PAST,
            f"{MEETINGS}/past",
            w.host_auth,
            f"meeting:past:{host}:page:1:limit:10",
        ),
    }


async def warm_profiles(client: httpx.AsyncClient, w: World) -> None:
    """The callers' profiles in the cache, so that only the read under test can miss."""
    for auth in (w.host_auth, w.member_auth):
        data_of(await client.get(f"{API}/auth/me", headers=auth))


def decode_entry(raw: bytes) -> Any:
    """A cached value as an operator reads it: JSON, or JSON behind the zlib marker."""
    if raw.startswith(ZLIB_MARKER):
        raw = zlib.decompress(raw[len(ZLIB_MARKER) :])
    return orjson.loads(raw)


async def every_value(redis: Redis) -> dict[str, bytes]:
    """Every key of the Redis database with all it holds, whatever its type, as bytes."""
    out: dict[str, bytes] = {}
    async for raw_name in redis.scan_iter(count=1000):
        name = raw_name.decode()
        kind = (await redis.type(name)).decode()
        blob: bytes
        if kind == "string":
            raw = await redis.get(name) or b""
            blob = zlib.decompress(raw[len(ZLIB_MARKER) :]) if raw.startswith(ZLIB_MARKER) else raw
        elif kind == "hash":
            blob = b" ".join(k + b"=" + v for k, v in (await redis.hgetall(name)).items())
        elif kind == "set":
            blob = b" ".join(await redis.smembers(name))
        else:
            blob = kind.encode()
        out[name] = blob
    return out


async def eventually(
    fetch: Callable[[], Awaitable[T]], fresh: Callable[[T], bool], *, window: bool
) -> T:
    """The next read, which must be fresh. With `window` (a read through another instance's
    in-process tier) the invalidation message may still be in flight: reads are repeated a
    bounded number of times (about 2 s; the tests set the tier's TTL far longer, so only
    the invalidation can make the read fresh)."""
    value = await fetch()
    for _ in range(200 if window else 0):
        if fresh(value):
            break
        await asyncio.sleep(0.01)
        value = await fetch()
    assert fresh(value), value
    return value


async def wait_until(check: Callable[[], Awaitable[bool]], rounds: int = 200) -> bool:
    """Poll `check` every 10 ms, at most `rounds` times; True once it holds."""
    for _ in range(rounds):
        if await check():
            return True
        await asyncio.sleep(0.01)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
