"""Helpers for the signaling tests: a real WebSocket client (`Peer`, on the `websockets`
package), the REST calls that set up users, guests and meetings, and the figures the
tests report (connections opened, messages relayed, cross-process latency)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from helpers import DEFAULT_PASSWORD

Message = dict[str, Any]
TIMEOUT_S = 10.0
BARRIER = "test-barrier"  # an unknown type: answered with an UNKNOWN_TYPE error


@dataclass
class Figures:
    """What the signaling tests did, for the report printed at the end of the run."""

    connections: int = 0
    relayed: int = 0
    cross_process_latency_ms: list[float] = field(default_factory=list)

    def summary(self) -> str:
        lat = sorted(self.cross_process_latency_ms)
        if lat:
            p50 = lat[len(lat) // 2]
            p99 = lat[min(len(lat) - 1, round(len(lat) * 0.99) - 1)]
            latency = f"{len(lat)} samples, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        else:
            latency = "no samples"
        return (
            f"signaling: {self.connections} WebSocket connections opened, "
            f"{self.relayed} messages relayed; cross-process relay latency: {latency}"
        )


FIGURES = Figures()


class Endpoint:
    """A server under test on a loopback port: its HTTP and WebSocket base URLs."""

    port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.http_url, timeout=15)


class Peer:
    """One signaling client: every message it receives is kept in `seen`, in order."""

    def __init__(self, ws: ClientConnection, label: str) -> None:
        self.ws = ws
        self.label = label
        self.seen: list[Message] = []
        self.arrivals: list[float] = []  # time.perf_counter() of each message in `seen`
        self._arrived = asyncio.Condition()
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(
        cls,
        ws_base: str,
        meeting_id: str,
        *,
        token: str | None = None,
        session_id: str | None = None,
        origin: str | None = None,
        label: str = "",
        join: bool = True,
        **options: Any,
    ) -> Peer:
        url = socket_url(ws_base, meeting_id, token=token, session_id=session_id)
        headers = {"Origin": origin} if origin else None
        ws = await connect(
            url, additional_headers=headers, open_timeout=TIMEOUT_S, ping_interval=None, **options
        )
        FIGURES.connections += 1
        peer = cls(ws, label)
        if join:
            await peer.send({"type": "join", "to": "", "data": {}})
        return peer

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                arrived = time.perf_counter()
                async with self._arrived:
                    self.seen.append(message)
                    self.arrivals.append(arrived)
                    self._arrived.notify_all()
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:  # stop_reading: the connection stays open
            return
        self.close_code = self.ws.close_code
        self.closed.set()
        async with self._arrived:
            self._arrived.notify_all()

    def stop_reading(self) -> None:
        """Like a client that no longer reads: nothing consumes its frames, so the client
        library soon stops reading the socket, and the kernel buffers fill."""
        self._reader.cancel()
        self.ws.transport.pause_reading()

    def resume_reading(self) -> None:
        self._reader = asyncio.create_task(self._read())
        self.ws.transport.resume_reading()

    async def send(self, message: Message | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def relay(self, kind: str, to: str, data: Message) -> None:
        await self.send({"type": kind, "to": to, "data": data, "from": "forged-by-client"})
        FIGURES.relayed += 1

    async def wait_for(
        self, predicate: Callable[[Message], bool], within: float = TIMEOUT_S
    ) -> Message:
        """The first message so far, or to come, for which `predicate` holds."""
        async with asyncio.timeout(within), self._arrived:
            while True:
                for message in self.seen:
                    if predicate(message):
                        return message
                if self.closed.is_set():
                    raise AssertionError(f"{self.label} closed ({self.close_code}): {self.seen}")
                await self._arrived.wait()

    async def joined(self, name: str, within: float = TIMEOUT_S) -> str:
        """The participant id of `name`, from the `participant-joined` about it."""
        message = await self.wait_for(
            lambda m: m["type"] == "participant-joined" and m["data"]["name"] == name, within
        )
        participant_id: str = message["from"]
        return participant_id

    async def left(self, participant_id: str, within: float = TIMEOUT_S) -> Message:
        return await self.wait_for(
            lambda m: m["type"] == "participant-left" and m["from"] == participant_id, within
        )

    async def error(self, code: str, within: float = TIMEOUT_S) -> Message:
        return await self.wait_for(
            lambda m: m["type"] == "error" and m["data"]["code"] == code, within
        )

    async def barrier(self) -> None:
        """Everything the server queued for this socket before now has arrived: one
        connection's messages arrive in order, and this frame's error reply comes last."""
        before = len(self._barrier_replies())
        await self.send({"type": BARRIER})
        await self.wait_for(lambda _: len(self._barrier_replies()) > before)

    def _barrier_replies(self) -> list[Message]:
        return [m for m in self.errors() if m["data"]["code"] == "UNKNOWN_TYPE"]

    def errors(self) -> list[Message]:
        return self.of_type("error")

    def check_notice_rule(self) -> None:
        """§6.5: at most one `participant-joined` per subject unless a `participant-left`
        for it came in between."""
        announced: set[str] = set()
        for message in self.seen:
            subject = message["from"]
            if message["type"] == "participant-joined":
                assert subject not in announced, f"{self.label}: {subject} announced twice"
                announced.add(subject)
            elif message["type"] == "participant-left":
                announced.discard(subject)

    def of_type(self, kind: str) -> list[Message]:
        return [m for m in self.seen if m["type"] == kind]

    def about(self, participant_id: str, kind: str) -> list[Message]:
        return [m for m in self.seen if m["type"] == kind and m["from"] == participant_id]

    async def wait_closed(self, within: float = TIMEOUT_S) -> int | None:
        async with asyncio.timeout(within):
            await self.closed.wait()
        return self.close_code

    async def close(self, code: int = 1000) -> None:
        await self.ws.close(code)
        await self.wait_closed()

    async def abort(self) -> None:
        """The TCP connection simply drops (no close frame)."""
        transport = self.ws.transport
        transport.abort()
        await self.wait_closed()


def socket_url(
    ws_base: str, meeting_id: str, *, token: str | None = None, session_id: str | None = None
) -> str:
    query = {k: v for k, v in (("token", token), ("sessionId", session_id)) if v is not None}
    suffix = f"?{urlencode(query)}" if query else ""
    return f"{ws_base}/api/v1/ws/meetings/{meeting_id}{suffix}"


async def refusal(
    ws_base: str,
    meeting_id: str,
    *,
    origin: str | None = None,
    token: str | None = None,
    session_id: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A handshake that must be refused before the upgrade: (status, body, headers)."""
    url = socket_url(ws_base, meeting_id, token=token, session_id=session_id)
    headers = {"Origin": origin} if origin else None
    try:
        async with connect(url, additional_headers=headers, open_timeout=TIMEOUT_S):
            pass
    except InvalidStatus as exc:
        response = exc.response
        body = json.loads(bytes(response.body or b"{}"))
        return response.status_code, body, {k.lower(): v for k, v in response.headers.raw_items()}
    raise AssertionError("the handshake was accepted")


async def drain_all(*peers: Peer) -> None:
    for peer in peers:
        with contextlib.suppress(Exception):
            await peer.ws.close()
    for peer in peers:
        with contextlib.suppress(Exception):
            await peer.wait_closed(5)


# -- REST set-up ------------------------------------------------------------------------


async def new_user(http: httpx.AsyncClient, name: str | None = None) -> tuple[str, str, str]:
    """(user id, username, access token) of a freshly registered user."""
    username = name or f"u_{uuid.uuid4().hex[:10]}"
    response = await http.post(
        "/api/v1/auth/register",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "password": DEFAULT_PASSWORD,
        },
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    return data["user"]["id"], username, data["accessToken"]


async def new_meeting(http: httpx.AsyncClient, token: str, name: str = "Standup") -> str:
    response = await http.post(
        "/api/v1/meetings",
        json={"name": name, "startTime": "2030-01-01T10:00:00+00:00"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    meeting_id: str = response.json()["data"]["id"]
    return meeting_id


async def new_guest(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """(public user id, session id) of a new guest."""
    session_id = f"session-{uuid.uuid4().hex}"
    response = await http.post("/api/v1/public-users", json={"name": name, "sessionId": session_id})
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"], session_id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def eventually(check: Callable[[], Any], within: float = TIMEOUT_S) -> Any:
    """Poll an async `check` until it returns a truthy value (state with no event to wait
    on, e.g. a database row); returns that value."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
