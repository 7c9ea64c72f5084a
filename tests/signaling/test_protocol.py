"""CONTRACT §6.2-§6.7 and §6.9 on one process: ids, the envelope, notices exactly once,
relays to exactly the addressed peer, per-message errors, limits and close codes.

Every case with a bad or abusive client also checks that no other connection, in the
same meeting or another one, is affected.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from signaling_helpers import (
    Message,
    Peer,
    bearer,
    drain_all,
    new_guest,
    new_meeting,
    new_user,
    socket_url,
)
from websockets.asyncio.client import connect

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

LiveServerFactory = Callable[..., Any]
ENVELOPE = {"type", "meetingId", "from", "to", "data", "timestamp"}
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}


def check_envelopes(peer: Peer, meeting_id: str) -> None:
    """§6.3: all six fields on every server message, the canonical meeting id, the
    server's time with a UTC offset, and never a notice about the peer itself."""
    peer.check_notice_rule()
    for message in peer.seen:
        assert set(message) == ENVELOPE, message
        assert message["meetingId"] == meeting_id
        stamp = datetime.fromisoformat(message["timestamp"])
        assert stamp.utcoffset() is not None
        if message["type"] in ("participant-joined", "participant-left"):
            assert message["to"] == ""
            assert message["data"]["participantId"] == message["from"]


async def three_in_a_meeting(server: Any) -> tuple[str, dict[str, Peer], dict[str, str]]:
    """A meeting with guests Ada, Bea and a signed-in user; everyone knows everyone."""
    async with server.http() as http:
        _, _, host_token = await new_user(http)
        meeting = await new_meeting(http, host_token)
        _, ada = await new_guest(http, "Ada")
        _, bea = await new_guest(http, "Bea")
        _, username, token = await new_user(http)
    peers = {
        "Ada": await Peer.open(server.ws_url, meeting, session_id=ada, label="Ada"),
        "Bea": await Peer.open(server.ws_url, meeting, session_id=bea, label="Bea"),
        username: await Peer.open(server.ws_url, meeting, token=token, label=username),
    }
    ids: dict[str, str] = {}
    for name, peer in peers.items():
        for other in peers:
            if other != name:
                ids[other] = await peer.joined(other)
    return meeting, peers, ids


async def test_every_connection_hears_of_every_other_exactly_once(
    live_server: LiveServerFactory,
) -> None:
    async with live_server() as server:
        meeting, peers, ids = await three_in_a_meeting(server)
        # A second `join` is ignored; a newcomer is announced once to each.
        for peer in peers.values():
            await peer.send({"type": "join", "to": "", "data": {}})
        async with server.http() as http:
            _, cy = await new_guest(http, "Cy")
        newcomer = await Peer.open(server.ws_url, meeting, session_id=cy, label="Cy")
        for peer in [*peers.values(), newcomer]:
            await peer.barrier()
        every = [*peers.values(), newcomer]
        names = [*peers, "Cy"]
        for name, peer in zip(names, every, strict=True):
            announced = [m["data"]["name"] for m in peer.of_type("participant-joined")]
            assert sorted(announced) == sorted(n for n in names if n != name), (name, announced)
            check_envelopes(peer, meeting)
        # Ids are random, unique, and reveal nothing of the user or the session.
        assert len(set(ids.values())) == 3
        for participant_id in ids.values():
            assert re.fullmatch(r"[0-9a-f]{32}", participant_id)
        await drain_all(*every)


async def test_concurrent_newcomers_each_get_one_notice_per_other_connection(
    live_server: LiveServerFactory,
) -> None:
    async with live_server() as server:
        async with server.http() as http:
            _, _, token = await new_user(http)
            meeting = await new_meeting(http, token)
        peers = await asyncio.gather(
            *(Peer.open(server.ws_url, meeting, label=f"p{i}") for i in range(12))
        )
        for peer in peers:
            await peer.wait_for(lambda _, p=peer: len(p.of_type("participant-joined")) >= 11)
        for peer in peers:
            await peer.barrier()
        for peer in peers:
            subjects = [m["from"] for m in peer.of_type("participant-joined")]
            assert len(subjects) == len(set(subjects)) == 11
        await drain_all(*peers)


async def test_relays_reach_exactly_the_addressed_peer_in_order(
    live_server: LiveServerFactory,
) -> None:
    async with live_server() as server:
        meeting, peers, ids = await three_in_a_meeting(server)
        ada, bea = peers["Ada"], peers["Bea"]
        third = next(p for name, p in peers.items() if name not in ("Ada", "Bea"))
        await ada.relay("offer", ids["Bea"], OFFER)
        candidates = [
            {
                "candidate": f"candidate:{i} 1 udp 2122260223 127.0.0.1 {50000 + i} typ host",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
                "usernameFragment": "abcd",
            }
            for i in range(25)
        ]
        for candidate in candidates:
            await ada.relay("ice-candidate", ids["Bea"], candidate)
        await bea.relay("answer", ids["Ada"], {"type": "answer", "sdp": "v=0\r\n"})
        answer = await ada.wait_for(lambda m: m["type"] == "answer")
        got = await bea.wait_for(lambda _: len(bea.of_type("ice-candidate")) == 25)
        del got
        offer = bea.of_type("offer")
        assert len(offer) == 1
        assert offer[0]["data"] == OFFER  # passed on unchanged
        assert offer[0]["from"] == ids["Ada"]  # `from` is the server's, not the client's
        assert offer[0]["to"] == ids["Bea"]
        assert [m["data"] for m in bea.of_type("ice-candidate")] == candidates  # in order
        assert bea.seen.index(offer[0]) < bea.seen.index(bea.of_type("ice-candidate")[0])
        assert answer["from"] == ids["Bea"] and answer["to"] == ids["Ada"]
        await third.barrier()
        assert not [m for m in third.seen if m["type"] in ("offer", "answer", "ice-candidate")]
        for peer in peers.values():
            check_envelopes(peer, meeting)
        await drain_all(*peers.values())


async def test_bad_frames_get_an_error_and_affect_nobody(live_server: LiveServerFactory) -> None:
    async with live_server() as server:
        meeting, peers, ids = await three_in_a_meeting(server)
        ada, bea = peers["Ada"], peers["Bea"]
        async with server.http() as http:
            _, _, token = await new_user(http)
            other_meeting = await new_meeting(http, token, "Elsewhere")
            _, dan = await new_guest(http, "Dan")
        outsider = await Peer.open(server.ws_url, other_meeting, label="outsider")
        dan_peer = await Peer.open(server.ws_url, other_meeting, session_id=dan)
        dan_id = await outsider.joined("Dan")
        cases: list[tuple[str | bytes | Message, str]] = [
            ("not json", "INVALID_MESSAGE"),
            ("[1, 2, 3]", "INVALID_MESSAGE"),
            ('"a string"', "INVALID_MESSAGE"),
            ("{}", "INVALID_MESSAGE"),
            ({"type": 42, "to": ids["Bea"], "data": {}}, "INVALID_MESSAGE"),
            (b"\x00\x01binary", "INVALID_MESSAGE"),
            ({"type": "chat-message", "data": {"text": "hi"}}, "UNKNOWN_TYPE"),
            ({"type": "ping"}, "UNKNOWN_TYPE"),
            ({"type": "participant-joined", "data": {}}, "UNKNOWN_TYPE"),
            ({"type": "offer", "to": ids["Bea"], "data": "sdp as a string"}, "INVALID_MESSAGE"),
            ({"type": "offer", "to": ids["Bea"]}, "INVALID_MESSAGE"),
            ({"type": "offer", "to": 7, "data": OFFER}, "INVALID_MESSAGE"),
            ({"type": "offer", "to": "", "data": OFFER}, "PEER_NOT_FOUND"),
            ({"type": "offer", "data": OFFER}, "PEER_NOT_FOUND"),
            ({"type": "answer", "to": "no-such-peer", "data": OFFER}, "PEER_NOT_FOUND"),
            # Another meeting's peer is not reachable, even by its exact id.
            ({"type": "offer", "to": dan_id, "data": OFFER}, "PEER_NOT_FOUND"),
            ({"type": "ice-candidate", "to": dan_id, "data": {"candidate": ""}}, "PEER_NOT_FOUND"),
        ]
        for frame, code in cases:
            before = len(ada.errors())
            if isinstance(frame, bytes):
                await ada.ws.send(frame)
            else:
                await ada.send(frame)
            error = await ada.wait_for(lambda _, n=before: len(ada.errors()) > n)
            error = ada.errors()[before]
            assert error["data"]["code"] == code, (frame, error)
            assert error["to"] == ids["Ada"] and error["from"] == ""
            assert error["data"]["message"]
        # Still open and working: a relay goes through afterwards.
        await ada.relay("offer", ids["Bea"], OFFER)
        await bea.wait_for(lambda m: m["type"] == "offer")
        for peer in [*peers.values(), outsider, dan_peer]:
            await peer.barrier()
        assert not dan_peer.of_type("offer") and not dan_peer.of_type("ice-candidate")
        assert [m["type"] for m in outsider.seen if m["type"] != "error"] == ["participant-joined"]
        assert not [m for m in bea.errors() if m["data"]["code"] != "UNKNOWN_TYPE"]
        assert ada.close_code is None and not ada.closed.is_set()
        check_envelopes(ada, meeting)
        await drain_all(*peers.values(), outsider, dan_peer)


async def test_an_oversize_frame_closes_with_1009_and_the_departure_is_reported(
    live_server: LiveServerFactory,
) -> None:
    async with live_server(ws_max_message_bytes=4096) as server:
        meeting, peers, ids = await three_in_a_meeting(server)
        ada, bea = peers["Ada"], peers["Bea"]
        fits = {"type": "offer", "sdp": ""}
        frame = {"type": "offer", "to": ids["Bea"], "data": fits}
        fits["sdp"] = "x" * (4096 - len(json.dumps(frame)))
        assert len(json.dumps(frame).encode()) == 4096
        await ada.send(frame)  # exactly the limit
        assert (await bea.wait_for(lambda m: m["type"] == "offer"))["data"] == fits
        await ada.send({"type": "offer", "to": ids["Bea"], "data": {"sdp": "y" * 5000}})
        assert await ada.wait_closed() == 1009
        for name, peer in peers.items():
            if name != "Ada":
                await peer.left(ids["Ada"])
                await peer.barrier()
                assert len(peer.about(ids["Ada"], "participant-left")) == 1
        assert len(bea.of_type("offer")) == 1
        await drain_all(*peers.values())
        del meeting


async def test_a_flood_is_refused_then_closed_with_1008_and_nobody_else_notices(
    live_server: LiveServerFactory,
) -> None:
    async with live_server(
        ws_rate_limit_per_second=20, ws_rate_limit_burst=40, ws_rate_limit_grace=1.0
    ) as server:
        meeting, peers, ids = await three_in_a_meeting(server)
        ada, bea = peers["Ada"], peers["Bea"]
        third = next(p for name, p in peers.items() if name not in ("Ada", "Bea"))
        started = asyncio.get_running_loop().time()
        sent = 0
        with pytest.raises(Exception):  # noqa: B017 - the socket closes under the flood
            for _ in range(2000):  # bounded: 40 s at most, closed after about 1 s
                await ada.send({"type": "ice-candidate", "to": ids["Bea"], "data": {"n": sent}})
                sent += 1
                await asyncio.sleep(0.02)
        elapsed = asyncio.get_running_loop().time() - started
        assert await ada.wait_closed() == 1008
        assert ada.of_type("error")
        assert {m["data"]["code"] for m in ada.errors()} == {"RATE_LIMIT_EXCEEDED"}
        await bea.left(ids["Ada"])
        await bea.barrier()
        relayed = bea.of_type("ice-candidate")
        # The burst, then the sustained rate; never the whole flood.
        assert 40 <= len(relayed) <= 40 + 20 * elapsed + 1 < sent
        assert [m["data"]["n"] for m in relayed] == sorted(m["data"]["n"] for m in relayed)
        await third.barrier()
        assert not third.of_type("ice-candidate") and not third.errors()[:-1]
        await drain_all(*peers.values())
        del meeting


def small_buffer_socket(port: int) -> socket.socket:
    """A client socket that holds little unread data, so a client that stops reading
    makes the server's queue fill quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_a_slow_consumer_is_evicted_with_1013_and_its_departure_reported(
    live_server: LiveServerFactory,
) -> None:
    async with live_server(
        ws_rate_limit_per_second=1e6,
        ws_rate_limit_burst=1_000_000,
        ws_ping_interval=60,  # the heartbeat would close it first (1011)
    ) as server:
        meeting, peers, ids = await three_in_a_meeting(server)
        ada, bea = peers["Ada"], peers["Bea"]
        async with server.http() as http:
            _, slow_session = await new_guest(http, "Slow")
        slow = await Peer.open(
            server.ws_url,
            meeting,
            session_id=slow_session,
            label="Slow",
            sock=small_buffer_socket(server.port),
            max_queue=1,
        )
        slow_id = await ada.joined("Slow")
        slow.stop_reading()
        # Incompressible (the socket uses permessage-deflate).
        payload = {"type": "offer", "sdp": base64.b64encode(os.urandom(22_000)).decode()}
        for _ in range(2000):  # bounded; eviction comes after a few hundred
            await ada.send({"type": "offer", "to": slow_id, "data": payload})
            if any(m["type"] == "participant-left" for m in ada.seen):
                break
            await asyncio.sleep(0)
        await ada.left(slow_id)
        await bea.left(slow_id)
        slow.resume_reading()
        assert await slow.wait_closed() == 1013
        for peer in (ada, bea):
            await peer.barrier()
            assert len(peer.about(slow_id, "participant-left")) == 1
        await ada.relay("offer", ids["Bea"], OFFER)  # the others go on
        await bea.wait_for(lambda m: m["type"] == "offer")
        await drain_all(*peers.values())


@pytest.mark.parametrize("how", ["leave", "close-1000", "close-1001", "tcp-drop"])
async def test_every_way_of_leaving_is_reported_once(
    live_server: LiveServerFactory, how: str
) -> None:
    async with live_server() as server:
        meeting, peers, ids = await three_in_a_meeting(server)
        ada = peers["Ada"]
        if how == "leave":
            await ada.send({"type": "leave", "to": "", "data": {}})
            assert await ada.wait_closed() == 1000
        elif how == "tcp-drop":
            await ada.abort()
        else:
            await ada.close(int(how.removeprefix("close-")))
        for name, peer in peers.items():
            if name != "Ada":
                await peer.left(ids["Ada"])
                await peer.barrier()
                assert len(peer.about(ids["Ada"], "participant-left")) == 1
                check_envelopes(peer, meeting)
        await drain_all(*peers.values())


async def test_a_quiet_connection_is_closed_by_the_heartbeat_and_reported(
    live_server: LiveServerFactory,
) -> None:
    async with live_server(ws_ping_interval=0.3, ws_ping_timeout=0.6) as server:
        meeting, peers, ids = await three_in_a_meeting(server)
        ada, bea = peers["Ada"], peers["Bea"]
        await asyncio.wait_for(bea.barrier(), 5)  # answering pings keeps a socket open
        ada.ws.transport.pause_reading()  # answers no ping from now on
        await bea.left(ids["Ada"], within=10)
        await bea.barrier()
        assert len(bea.about(ids["Ada"], "participant-left")) == 1
        ada.ws.transport.resume_reading()  # and finds its socket closed by the server
        await ada.wait_closed()
        await drain_all(*peers.values())
        del meeting


async def test_one_identity_may_hold_several_connections_and_reconnect(
    live_server: LiveServerFactory,
) -> None:
    async with live_server() as server:
        async with server.http() as http:
            _, host, token = await new_user(http)
            meeting = await new_meeting(http, token)
            _, session = await new_guest(http, "Twin")
        observer = await Peer.open(server.ws_url, meeting, token=token)
        first = await Peer.open(server.ws_url, meeting, session_id=session, label="tab 1")
        second = await Peer.open(server.ws_url, meeting, session_id=session, label="tab 2")
        await observer.wait_for(lambda _: len(observer.of_type("participant-joined")) == 2)
        first_id, second_id = (m["from"] for m in observer.of_type("participant-joined"))
        assert first_id != second_id
        await first.barrier()
        await second.barrier()
        assert not first.closed.is_set() and not second.closed.is_set()  # nobody evicted
        await first.abort()
        await observer.left(first_id)
        again = await Peer.open(server.ws_url, meeting, session_id=session, label="tab 1 again")
        await observer.wait_for(lambda _: len(observer.of_type("participant-joined")) == 3)
        new_id = observer.of_type("participant-joined")[-1]["from"]
        assert new_id not in (first_id, second_id)
        await drain_all(observer, second, again)
        del host


async def test_deleting_a_meeting_closes_its_sockets_with_1000_and_ending_it_closes_nothing(
    live_server: LiveServerFactory,
) -> None:
    async with live_server() as server, server.http() as http:
        _, _, token = await new_user(http)
        meeting = await new_meeting(http, token)
        other = await new_meeting(http, token, "Other")
        peers = [await Peer.open(server.ws_url, meeting, label=f"m{i}") for i in range(3)]
        bystander = await Peer.open(server.ws_url, other, label="other meeting")
        response = await http.patch(f"/api/v1/meetings/{meeting}/end", headers=bearer(token))
        assert response.status_code == 200
        for peer in peers:
            await peer.barrier()  # still open
        response = await http.delete(f"/api/v1/meetings/{meeting}", headers=bearer(token))
        assert response.status_code == 200
        for peer in peers:
            assert await peer.wait_closed() == 1000
            assert not peer.of_type("participant-left")  # the meeting is gone: no notices
        await bystander.barrier()
        assert [m["type"] for m in bystander.seen] == ["error"]  # its barrier only
        await drain_all(bystander)


async def test_graceful_shutdown_closes_with_a_reconnect_code_and_reports_departures(
    live_server: LiveServerFactory,
) -> None:
    server_cm = live_server()
    server = await server_cm.__aenter__()
    try:
        meeting, peers, _ = await three_in_a_meeting(server)
    finally:
        await server_cm.__aexit__(None, None, None)
    for peer in peers.values():
        assert await peer.wait_closed() in (1001, 1012)
    del meeting


async def test_the_query_string_never_reaches_a_log_or_a_metric(
    live_server: LiveServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with live_server(log_level="DEBUG") as server, server.http() as http:
        _, _, token = await new_user(http)
        meeting = await new_meeting(http, token)
        _, session = await new_guest(http, "Secretive")
        capsys.readouterr()
        peer = await Peer.open(server.ws_url, meeting, token=token, session_id=session)
        await peer.barrier()
        url = socket_url(server.ws_url, "not-a-uuid", token=token, session_id=session)
        with pytest.raises(Exception):  # noqa: B017 - refused: 400
            async with connect(url):
                pass
        await peer.close()
        metrics = (await http.get("/metrics")).text
        output = capsys.readouterr().out
    assert "WebSocket /api/v1/ws/meetings/" in output  # the server did log the handshakes
    assert "ws_connected" in output and "ws_refused" in output
    for secret in (token, session, "token=", "sessionId="):
        assert secret not in output
        assert secret not in metrics
    assert "gomeet_ws_connections_opened_total 1.0" in metrics
