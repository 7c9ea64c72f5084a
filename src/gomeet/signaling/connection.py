"""One accepted signaling socket: its bounded outbound queue, its writer, its reader with
the size and rate limits (CONTRACT §6.3, §6.9), and how it stops.

Everything sent to a connection goes through `deliver`, which never waits: a full queue
(the client does not read fast enough) stops the connection with 1013 instead of slowing
down the sender or growing without bound. One writer task drains the queue in order, so a
connection receives messages in the order the server produced them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.websockets import WebSocket

from gomeet.signaling.schemas import CloseCode, ErrorCode, Member, error_message

CLOSE_TIMEOUT_S = 5.0  # a close frame to a client that does not read is given up after this
RATE_RECOVERY_S = 1.0  # a second without a refused message ends an "over the limit" spell


class MessageRate:
    """A token bucket (`per_second` sustained, `burst` at once), and how long the
    connection has been over it: from its first refused message until a second passes
    with none refused."""

    __slots__ = ("_last", "_last_refusal", "_over_since", "burst", "per_second", "tokens")

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = float(burst)
        self.tokens = float(burst)
        self._last = time.monotonic()
        self._over_since: float | None = None
        self._last_refusal = 0.0

    def admit(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self._last) * self.per_second)
        self._last = now
        if self._over_since is not None and now - self._last_refusal >= RATE_RECOVERY_S:
            self._over_since = None
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        if self._over_since is None:
            self._over_since = now
        self._last_refusal = now
        return False

    def over_for(self, now: float) -> float:
        return 0.0 if self._over_since is None else now - self._over_since


class Connection:
    """A participant's socket as the hub sees it (its room, its queue, whom it was told
    about), plus `serve`, which runs the socket once it has been accepted."""

    def __init__(
        self,
        meeting_id: str,
        member: Member,
        *,
        identity: Any,
        queue_size: int,
        rate: MessageRate,
        max_message_bytes: int,
        rate_grace_s: float,
    ) -> None:
        self.meeting_id = meeting_id
        self.member = member
        self.identity = identity  # the service's Identity: whose presence this counts for
        self.participant_id = member.participant_id
        self.announced: set[str] = set()  # subjects this connection got participant-joined for
        self.joined = False  # has sent its first `join`
        self.active = False  # accepted and announced to the others
        self.departed = False  # its departure has been reported
        self.close_code: int | None = None
        self.close_reason = ""
        self.opened_at = time.monotonic()
        self.presence_started: asyncio.Task[None] | None = None  # the first-connection join
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self._rate = rate
        self._max_bytes = max_message_bytes
        self._rate_grace_s = rate_grace_s
        self._stopped = asyncio.Event()

    # -- what the hub calls (never waits) ---------------------------------------------------

    def deliver(self, text: str) -> bool:
        """Queue one message; False when the connection is closing. A full queue evicts it."""
        if self.close_code is not None:
            return False
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.stop(CloseCode.TRY_AGAIN_LATER, "slow consumer")
            return False
        return True

    def send_error(self, code: ErrorCode, message: str) -> None:
        self.deliver(error_message(self.meeting_id, self.participant_id, code, message))

    def announce(self, member: Member, text: str) -> None:
        """`participant-joined` at most once per subject, until a `participant-left`."""
        if member.participant_id == self.participant_id:
            return
        if member.participant_id not in self.announced:
            self.announced.add(member.participant_id)
            self.deliver(text)

    def report_left(self, participant_id: str, text: str) -> None:
        self.announced.discard(participant_id)
        self.deliver(text)

    def stop(self, code: int, reason: str) -> None:
        """Close with `code` (the first reason wins); `serve` does the rest."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self._stopped.set()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # -- the socket -------------------------------------------------------------------------

    async def serve(
        self,
        websocket: WebSocket,
        on_text: Callable[[Connection, str], None],
        on_end: Callable[[Connection], None],
    ) -> None:
        """Read and write until the client goes, `stop` is called, or a limit is hit;
        then `on_end` (the departure), then the close frame, if the client is still there."""
        client_gone = False

        async def read() -> None:
            nonlocal client_gone
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    client_gone = True
                    self.stop(int(message.get("code") or 1005), "closed by the client")
                    return
                self._on_frame(message, on_text)
                if self.close_code is not None:
                    return

        async def write() -> None:
            while True:
                await websocket.send_text(await self._queue.get())

        reader = asyncio.create_task(read())
        writer = asyncio.create_task(write())
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            await asyncio.wait({reader, writer, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if writer.done() and self.close_code is None:  # the send failed: the client is gone
                client_gone = True
                self.stop(1006, "connection lost")
            for task in (reader, writer, stopped):
                task.cancel()
            await asyncio.gather(reader, writer, stopped, return_exceptions=True)
            on_end(self)
            if not client_gone and self.close_code is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(websocket.close(self.close_code), CLOSE_TIMEOUT_S)

    def _on_frame(
        self, message: MutableMapping[str, Any], on_text: Callable[[Connection, str], None]
    ) -> None:
        text: str | None = message.get("text")
        raw: bytes | None = message.get("bytes")
        # A str has at most 4 UTF-8 bytes per character: encode only when that could matter.
        if text is not None:
            too_big = len(text) * 4 > self._max_bytes and len(text.encode()) > self._max_bytes
        else:
            too_big = len(raw or b"") > self._max_bytes
        if too_big:
            self.stop(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        now = time.monotonic()
        if not self._rate.admit(now):
            if self._rate.over_for(now) >= self._rate_grace_s:
                self.stop(CloseCode.POLICY_VIOLATION, "message rate exceeded")
            else:
                self.send_error(ErrorCode.RATE_LIMIT_EXCEEDED, "Too many messages, slow down")
            return
        if text is None:
            self.send_error(ErrorCode.INVALID_MESSAGE, "Binary frames are not accepted")
            return
        on_text(self, text)
