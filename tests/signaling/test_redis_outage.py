"""CONTRACT §6.10 on one process: signaling never depends on Redis. With Redis stopped
mid-meeting, same-process peers still see each other (notices, relays, the `join`
snapshot, departures, presence); when Redis is back, the registry is repaired by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from signaling_helpers import Peer, drain_all, eventually, new_guest, new_meeting, new_user
from sqlalchemy import select

from gomeet.embedded import EmbeddedRedis
from gomeet.meetings.models import Participant

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

LiveServerFactory = Callable[..., Any]


async def room_entries(url: str, meeting_id: str) -> set[str]:
    redis = Redis.from_url(url)
    try:
        return {k.decode() for k in await redis.hkeys(f"signal:room:{meeting_id}")}
    finally:
        await redis.aclose()


async def guest_active(server: Any, meeting_id: str, public_user_id: str) -> bool | None:
    async with server.app.state.sessionmaker() as session:
        row = await session.scalar(
            select(Participant).where(
                Participant.meeting_id == uuid.UUID(meeting_id),
                Participant.public_user_id == uuid.UUID(public_user_id),
            )
        )
        return None if row is None else row.is_active


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
async def test_same_process_signaling_goes_on_while_redis_is_away_and_resyncs_after(
    live_server: LiveServerFactory, own_redis: EmbeddedRedis, outage: str
) -> None:
    """Stopped: connections refused, then an empty Redis. Frozen (SIGSTOP): every
    command times out, then Redis comes back with its old entries (Ben's among them)."""
    async with live_server(redis_url=own_redis.url) as server:
        async with server.http() as http:
            _, _, token = await new_user(http)
            meeting = await new_meeting(http, token)
            guests = {name: await new_guest(http, name) for name in ("Ann", "Ben", "Cat")}
        ann = await Peer.open(server.ws_url, meeting, session_id=guests["Ann"][1], label="Ann")
        ben = await Peer.open(server.ws_url, meeting, session_id=guests["Ben"][1], label="Ben")
        ben_id = await ann.joined("Ben")
        ann_id = await ben.joined("Ann")
        assert await room_entries(own_redis.url, meeting) == {ann_id, ben_id}

        if outage == "stopped":
            await asyncio.to_thread(own_redis.stop)
        else:
            assert own_redis.pid is not None
            os.kill(own_redis.pid, signal.SIGSTOP)
        await ann.relay("offer", ben_id, {"type": "offer", "sdp": "v=0"})
        await ben.wait_for(lambda m: m["type"] == "offer" and m["from"] == ann_id)
        # A newcomer during the outage: accepted, announced, and given the snapshot.
        cat = await Peer.open(server.ws_url, meeting, session_id=guests["Cat"][1], label="Cat")
        cat_id = await ann.joined("Cat")
        assert await ben.joined("Cat") == cat_id
        assert {await cat.joined("Ann"), await cat.joined("Ben")} == {ann_id, ben_id}
        await cat.relay("answer", ann_id, {"type": "answer", "sdp": "v=0"})
        await ann.wait_for(lambda m: m["type"] == "answer" and m["from"] == cat_id)
        # A departure during the outage: reported once, presence closed.
        await ben.close()
        await ann.left(ben_id)
        await cat.left(ben_id)
        await eventually(lambda: _is(guest_active(server, meeting, guests["Ben"][0]), False))

        if outage == "stopped":
            await asyncio.to_thread(own_redis.start)  # an empty Redis on the same port
        else:
            assert own_redis.pid is not None
            os.kill(own_redis.pid, signal.SIGCONT)

        async def repaired() -> bool:
            return await room_entries(own_redis.url, meeting) == {ann_id, cat_id}

        await eventually(repaired)
        for peer in (ann, cat):
            await peer.barrier()
            assert len(peer.about(ben_id, "participant-left")) == 1
            assert len(peer.of_type("participant-joined")) == 2  # nobody announced twice
        assert await guest_active(server, meeting, guests["Ann"][0]) is True
        assert await guest_active(server, meeting, guests["Cat"][0]) is True
        await drain_all(ann, cat)


async def _is(value: Any, expected: Any) -> bool:
    return (await value) is expected
