"""CONTRACT §6.10: clients on different processes see each other exactly as in one.

Real `gomeet serve` processes: one with `--workers 2` (its embedded Redis), and two
instances sharing a private Redis and one database (plus, for the failure cases, a third
that is killed or stopped). Two guests and a signed-in user in one meeting, spread over
the processes: notices exactly once, relays to exactly the addressed peer, departures by
close, `leave` and heartbeat timeout, presence rows, nothing crossing into another
meeting; then Redis stopped and restarted mid-meeting, an instance SIGKILLed, an instance
stopped, and a meeting deleted.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import Serve, deployment_env, start_serve, stop_all
from redis.asyncio import Redis
from signaling_helpers import (
    FIGURES,
    Peer,
    bearer,
    drain_all,
    eventually,
    new_guest,
    new_meeting,
    new_user,
    refusal,
)

from gomeet.embedded import EmbeddedRedis
from helpers import free_port

pytestmark = pytest.mark.e2e

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 42 2 IN IP4 127.0.0.1\r\n"}
MAX_PARTICIPANTS = 8


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """`gomeet serve --workers 2`, as a user runs it (no Redis configured: embedded)."""
    root = tmp_path_factory.mktemp("workers")
    server = start_serve(deployment_env(root), root, workers=2, name="workers")
    yield server
    stop_all([server])


@pytest.fixture(scope="module")
def shared_redis() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(port=free_port()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, shared_redis: EmbeddedRedis
) -> Iterator[tuple[dict[str, str], Path]]:
    root = tmp_path_factory.mktemp("instances")
    env = deployment_env(
        root, REDIS_URL=shared_redis.url, WS_MAX_PARTICIPANTS=str(MAX_PARTICIPANTS)
    )
    yield env, root


@pytest.fixture(scope="module")
def pair(deployment: tuple[dict[str, str], Path]) -> Iterator[tuple[Serve, Serve]]:
    """Two instances on one Redis and one database."""
    env, root = deployment
    first = start_serve(env, root, name="first")
    second = start_serve(env, root, name="second")
    yield first, second
    stop_all([first, second])


@pytest.fixture
def third(deployment: tuple[dict[str, str], Path]) -> Iterator[Serve]:
    """One more instance of the same deployment, for a test to kill or stop."""
    env, root = deployment
    server = start_serve(env, root, name=f"third-{uuid.uuid4().hex[:6]}")
    yield server
    stop_all([server])


async def instance_of(server: Serve, participant_id: str) -> str:
    found = await eventually(lambda: _async(server.instance_of(participant_id)))
    assert isinstance(found, str)
    return found


async def _async(value: Any) -> Any:
    return value


class Meeting:
    """A meeting's set-up through one process's REST API: its host, and named guests
    and users who connect through whichever process each test says."""

    def __init__(self, meeting_id: str, host_token: str) -> None:
        self.id = meeting_id
        self.host_token = host_token
        self.peers: dict[str, Peer] = {}
        self.ids: dict[str, str] = {}

    @classmethod
    async def create(cls, server: Serve, name: str = "Standup") -> Meeting:
        async with server.http() as http:
            _, _, token = await new_user(http)
            return cls(await new_meeting(http, token, name), token)

    async def guest(self, server: Serve, name: str) -> Peer:
        async with server.http() as http:
            _, session = await new_guest(http, name)
        return await self._join(server, name, session_id=session)

    async def user(self, server: Serve) -> tuple[str, str, Peer]:
        async with server.http() as http:
            user_id, username, token = await new_user(http)
        return user_id, token, await self._join(server, username, token=token)

    async def _join(self, server: Serve, name: str, **identity: str) -> Peer:
        peer = await Peer.open(server.ws_url, self.id, label=name, **identity)
        for other_name, other in self.peers.items():  # everyone learns of the newcomer
            self.ids[name] = await other.joined(name)
            self.ids.setdefault(other_name, await peer.joined(other_name))
        self.peers[name] = peer
        return peer


async def mesh_relays_reach_exactly_the_addressed_peers(meeting: Meeting) -> None:
    """Every peer offers to every other, which answers and sends candidates; each gets
    exactly what was addressed to it, in order, `from` written by the server."""
    names = list(meeting.peers)
    for sender, recipient in itertools.permutations(names, 2):
        peer, to = meeting.peers[sender], meeting.ids[recipient]
        await peer.relay("offer", to, {**OFFER, "n": f"{sender}>{recipient}"})
        for i in range(3):
            await peer.relay("ice-candidate", to, {"candidate": f"c{i}", "sdpMid": "0"})
    for name in names:
        peer = meeting.peers[name]
        await peer.wait_for(
            lambda _, p=peer: len(p.of_type("ice-candidate")) == 3 * (len(names) - 1)
        )
    for name in names:  # answers back, then a barrier: nothing else may arrive
        peer = meeting.peers[name]
        for offer in peer.of_type("offer"):
            await peer.relay("answer", offer["from"], {"type": "answer", "sdp": "v=0"})
    for name in names:
        peer = meeting.peers[name]
        await peer.wait_for(lambda _, p=peer: len(p.of_type("answer")) == len(names) - 1)
        await peer.barrier()
    for name in names:
        peer, me = meeting.peers[name], meeting.ids[name]
        senders = {meeting.ids[n]: n for n in names if n != name}
        offers = peer.of_type("offer")
        assert sorted(m["data"]["n"] for m in offers) == sorted(
            f"{s}>{name}" for s in senders.values()
        )
        for message in [*offers, *peer.of_type("ice-candidate"), *peer.of_type("answer")]:
            assert message["to"] == me
            assert message["from"] in senders  # never the client's "forged-by-client"
        for sender_id in senders:
            from_sender = [
                m for m in peer.seen if m["from"] == sender_id and m["type"] != "participant-joined"
            ]
            kinds = [m["type"] for m in from_sender]
            assert kinds[:4] == ["offer", "ice-candidate", "ice-candidate", "ice-candidate"]
            assert [m["data"]["candidate"] for m in from_sender[1:4]] == ["c0", "c1", "c2"]
        joined = [m["from"] for m in peer.of_type("participant-joined")]
        assert sorted(joined) == sorted(senders)  # once per other connection, never itself


async def departures_are_reported_once(meeting: Meeting, names: list[str]) -> None:
    """The first leaves by closing, the second by `leave`, the third goes quiet (stops
    answering pings): every remaining peer hears of each departure exactly once."""
    quitter, leaver, quiet = (meeting.peers[n] for n in names)
    await quitter.close()
    await leaver.send({"type": "leave", "to": "", "data": {}})
    assert await leaver.wait_closed() == 1000
    quiet.ws.transport.pause_reading()
    remaining = [p for n, p in meeting.peers.items() if n not in names]
    for peer in remaining:
        for name in names:
            await peer.left(meeting.ids[name])
        await peer.barrier()
        for name in names:
            assert len(peer.about(meeting.ids[name], "participant-left")) == 1
    quiet.ws.transport.resume_reading()
    await quiet.wait_closed()


async def presence_rows(server: Serve, meeting: Meeting) -> dict[str, bool]:
    async with server.http() as http:
        response = await http.get(
            f"/api/v1/meetings/{meeting.id}/participants", headers=bearer(meeting.host_token)
        )
    assert response.status_code == 200, response.text
    return {p["name"]: p["isActive"] for p in response.json()["data"]}


async def record_latency(sender: Peer, recipient: Peer, to: str, samples: int) -> None:
    """One-way relay latency across processes, one message in flight at a time."""
    for i in range(samples):
        before = len(recipient.seen)
        started = time.perf_counter()
        await sender.relay("ice-candidate", to, {"candidate": f"latency-{i}", "sdpMid": "0"})
        await recipient.wait_for(lambda _, n=before: len(recipient.seen) > n)
        FIGURES.cross_process_latency_ms.append((recipient.arrivals[before] - started) * 1000)


# -- the tests ---------------------------------------------------------------------------


async def test_a_meeting_spread_over_two_workers(workers: Serve) -> None:
    meeting = await Meeting.create(workers)
    other = await Meeting.create(workers, "Elsewhere")
    await meeting.guest(workers, "Ada")
    await meeting.guest(workers, "Bea")
    await meeting.user(workers)
    await meeting.guest(workers, "Witness")  # stays to the end: hears every departure
    # The kernel spreads connections over the workers: add guests until both hold one.
    spread = {await instance_of(workers, meeting.ids[n]) for n in meeting.peers}
    for i in range(12):
        if len(spread) == 2:
            break
        await meeting.guest(workers, f"Extra{i}")
        spread.add(await instance_of(workers, meeting.ids[f"Extra{i}"]))
    assert len(spread) == 2, "every connection landed on one worker"
    await other.guest(workers, "Outsider")
    await other.guest(workers, "Outsider2")
    await mesh_relays_reach_exactly_the_addressed_peers(meeting)
    crossing = [
        (a, b)
        for a, b in itertools.permutations(meeting.peers, 2)
        if await instance_of(workers, meeting.ids[a]) != await instance_of(workers, meeting.ids[b])
    ]
    a, b = crossing[0]
    await record_latency(meeting.peers[a], meeting.peers[b], meeting.ids[b], 100)
    names = list(meeting.peers)
    await departures_are_reported_once(meeting, names[:3])
    for peer in other.peers.values():  # nothing crossed into the other meeting
        await peer.barrier()
        assert {m["from"] for m in peer.seen if m["type"] != "error"} <= set(other.ids.values())
    rows = await eventually(lambda: _all_left(workers, meeting, names[:3]), within=15)
    assert rows
    await drain_all(*meeting.peers.values(), *other.peers.values())


async def _all_left(server: Serve, meeting: Meeting, names: list[str]) -> bool:
    rows = await presence_rows(server, meeting)
    guests = [n for n in names if n in rows]
    return bool(guests) and all(rows[n] is False for n in guests)


async def test_a_meeting_spread_over_two_instances(pair: tuple[Serve, Serve]) -> None:
    first, second = pair
    meeting = await Meeting.create(first)
    other = await Meeting.create(second, "Elsewhere")
    await meeting.guest(first, "Ada")
    await meeting.guest(second, "Bea")
    _, user_token, _ = await meeting.user(first)
    await meeting.guest(second, "Cid")
    await other.guest(first, "Outsider")
    await other.guest(second, "Outsider2")
    username = next(n for n in meeting.peers if n not in ("Ada", "Bea", "Cid"))
    # Presence is counted across processes: rows are active, read through either API.
    assert await presence_rows(second, meeting) == {
        "Ada": True,
        "Bea": True,
        username: True,
        "Cid": True,
    }
    await mesh_relays_reach_exactly_the_addressed_peers(meeting)
    await record_latency(meeting.peers["Ada"], meeting.peers["Bea"], meeting.ids["Bea"], 150)
    # A second tab of the user on the other instance keeps the presence when one closes.
    tab = await Peer.open(second.ws_url, meeting.id, token=user_token, label="tab")
    await meeting.peers["Cid"].wait_for(
        lambda m: (
            m["type"] == "participant-joined"
            and m["data"]["name"] == username
            and m["from"] != meeting.ids[username]
        )
    )
    await departures_are_reported_once(meeting, ["Ada", username, "Bea"])
    assert (await presence_rows(first, meeting))[username] is True  # the tab is still open
    await tab.close()
    await eventually(lambda: _all_left(first, meeting, ["Ada", "Bea", username]), within=15)
    for peer in other.peers.values():
        await peer.barrier()
        assert {m["from"] for m in peer.seen if m["type"] != "error"} <= set(other.ids.values())
    await drain_all(*meeting.peers.values(), *other.peers.values())


async def test_the_participant_limit_counts_every_process(pair: tuple[Serve, Serve]) -> None:
    first, second = pair
    meeting = await Meeting.create(first)

    async def attempt(server: Serve) -> Peer | None:
        try:
            return await Peer.open(server.ws_url, meeting.id)
        except Exception:
            status, body, _ = await refusal(server.ws_url, meeting.id)
            assert (status, body["error"]["code"]) == (403, "MEETING_FULL")
            return None

    results = await asyncio.gather(*(attempt(s) for s in (first, second) * 7))
    peers = [p for p in results if p is not None]
    assert len(peers) == MAX_PARTICIPANTS
    await drain_all(*peers)


async def test_redis_stopped_and_restarted_mid_meeting(
    pair: tuple[Serve, Serve], shared_redis: EmbeddedRedis
) -> None:
    first, second = pair
    meeting = await Meeting.create(first)
    ada = await meeting.guest(first, "Ada")
    bea = await meeting.guest(second, "Bea")
    cid = await meeting.guest(first, "Cid")
    await asyncio.to_thread(shared_redis.stop)
    try:
        # Same process: still signaling. Ada and Cid are both on the first instance.
        await ada.relay("offer", meeting.ids["Cid"], OFFER)
        await cid.wait_for(lambda m: m["type"] == "offer")
        dan = await Peer.open(
            second.ws_url,
            meeting.id,
            label="Dan",
            join=True,
            session_id=await _session(second, "Dan"),
        )
        dan_id = await bea.joined("Dan")
        await cid.close()  # Bea, on the other instance, cannot hear of it yet
        await ada.left(meeting.ids["Cid"])
    finally:
        # Empty, on the same port. Started from this thread, not a worker thread: the
        # server is told to exit when the thread that started it ends (PDEATHSIG).
        shared_redis.start()
    # Back: what was missed is reported, once; relays cross again.
    assert await ada.joined("Dan", within=20) == dan_id
    await bea.left(meeting.ids["Cid"], within=20)
    await ada.relay("offer", dan_id, OFFER)
    await dan.wait_for(lambda m: m["type"] == "offer" and m["from"] == meeting.ids["Ada"])
    await bea.relay("answer", meeting.ids["Ada"], {"type": "answer", "sdp": "v=0"})
    await ada.wait_for(lambda m: m["type"] == "answer")
    for peer in (ada, bea, dan):
        await peer.barrier()
        peer.check_notice_rule()

    # No ghost: the registry holds exactly the open connections, the rows agree.
    async def registry() -> set[str]:
        redis = Redis.from_url(shared_redis.url)
        try:
            return {k.decode() for k in await redis.hkeys(f"signal:room:{meeting.id}")}
        finally:
            await redis.aclose()

    live = {meeting.ids["Ada"], meeting.ids["Bea"], dan_id}
    await eventually(lambda: _equals(registry(), live))
    rows = await eventually(
        lambda: _rows_are(first, meeting, {"Ada": True, "Bea": True, "Cid": False, "Dan": True})
    )
    assert rows
    await drain_all(ada, bea, dan)


async def _session(server: Serve, name: str) -> str:
    async with server.http() as http:
        _, session = await new_guest(http, name)
    return session


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _rows_are(server: Serve, meeting: Meeting, expected: dict[str, bool]) -> bool:
    return await presence_rows(server, meeting) == expected


async def test_a_killed_instance_is_reported_departed_and_its_presence_closed(
    pair: tuple[Serve, Serve], third: Serve
) -> None:
    first, _ = pair
    meeting = await Meeting.create(first)
    ada = await meeting.guest(first, "Ada")
    await meeting.guest(third, "Doomed")
    assert (await presence_rows(first, meeting))["Doomed"] is True
    third.signal(signal.SIGKILL)
    third.wait()
    await ada.left(meeting.ids["Doomed"], within=20)  # once its alive key has expired
    await ada.barrier()
    assert len(ada.about(meeting.ids["Doomed"], "participant-left")) == 1
    await eventually(lambda: _rows_are(first, meeting, {"Ada": True, "Doomed": False}))
    await drain_all(ada)


async def test_a_stopped_instance_closes_with_1012_and_reports_departures(
    pair: tuple[Serve, Serve], third: Serve
) -> None:
    first, _ = pair
    meeting = await Meeting.create(first)
    ada = await meeting.guest(first, "Ada")
    leaving = await meeting.guest(third, "Leaving")
    third.signal(signal.SIGTERM)
    assert await leaving.wait_closed(within=20) in (1001, 1012)  # the client reconnects
    await ada.left(meeting.ids["Leaving"])
    await asyncio.to_thread(third.wait)
    await eventually(lambda: _rows_are(first, meeting, {"Ada": True, "Leaving": False}))
    await ada.barrier()
    assert len(ada.about(meeting.ids["Leaving"], "participant-left")) == 1
    await drain_all(ada)


async def test_deleting_a_meeting_closes_its_sockets_on_every_process(
    pair: tuple[Serve, Serve],
) -> None:
    first, second = pair
    meeting = await Meeting.create(first)
    peers = [await meeting.guest(s, f"G{i}") for i, s in enumerate((first, second, second))]
    async with first.http() as http:
        response = await http.delete(
            f"/api/v1/meetings/{meeting.id}", headers=bearer(meeting.host_token)
        )
        assert response.status_code == 200
    for peer in peers:
        assert await peer.wait_closed() == 1000
    status, body, _ = await refusal(second.ws_url, meeting.id)
    assert (status, body["error"]["code"]) == (404, "MEETING_NOT_FOUND")


async def test_logs_of_every_process_hold_no_token_or_session_id(
    pair: tuple[Serve, Serve], workers: Serve
) -> None:
    secrets: list[str] = []
    for server in (*pair, workers):
        async with server.http() as http:
            _, _, token = await new_user(http)
            meeting = await new_meeting(http, token)
            _, session = await new_guest(http, "Private")
        secrets += [token, session]
        peer = await Peer.open(server.ws_url, meeting, token=token, session_id=session)
        await peer.barrier()
        await drain_all(peer)
    for server in (*pair, workers):
        text = server.text()
        assert "ws_connected" in text
        assert "token=" not in text and "sessionId=" not in text
        for secret in secrets:
            assert secret not in text
