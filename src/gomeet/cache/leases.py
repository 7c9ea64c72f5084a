"""Leases that hold: their markers, the holder's keep-alive, and the waiters' wake-ups.

A miss takes a lease (`~lease:<token>`, PX `lease_ttl`) in the same script that read the
key. While its loader runs, the holder extends the lease (every third of its life, for at
most `lease_max_hold`), so a slow database never lets a second filler in. Readers on any
instance that find the lease wait for the holder: the script that stores the value (or
gives the lease up) publishes a notice on `cache:filled`, which wakes them; they re-check
every `lease_poll` in case the notice was lost. If the holder dies its lease expires and
the first waiter to re-check takes it over. A loader's error is published too, so that it
reaches every waiter instead of sending them all to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from enum import Enum
from time import monotonic
from typing import Final

from gomeet.cache import codec

FILLED: Final = b"+"
FAILED: Final = b"!"
ABANDONED: Final = b"-"


class Notice(Enum):
    FILLED = "filled"  # the value is stored: read it
    FAILED = "failed"  # the holder's loader raised: the waiters fail too
    ABANDONED = "abandoned"  # the holder gave up (cancelled, value too large): re-check now
    LOST = "lost"  # the subscription dropped: re-check now


class LoadFailed(Exception):
    """Another instance's load of this key failed; its error, as it reported it."""


def failed_notice(name: str, exc: BaseException) -> bytes:
    text = f"{type(exc).__name__}: {exc}"[:200]
    return FAILED + name.encode() + b"\n" + text.encode()


def abandoned_notice(name: str) -> bytes:
    return ABANDONED + name.encode()


class Markers:
    """Lease tokens: a random per-process half and a counter (cheaper than a random token)."""

    __slots__ = ("_count", "_head")

    def __init__(self) -> None:
        self._head = codec.LEASE + secrets.token_hex(codec.TOKEN_BYTES // 2).encode()
        self._count = 0

    def next(self) -> bytes:
        self._count = count = (self._count + 1) & 0xFFFFFFFF
        return b"%s%08x" % (self._head, count)


class FillNotices:
    """The futures of this process's waiters, by key, resolved by the subscription."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[tuple[Notice, str]]] = {}

    def expect(self, name: str) -> asyncio.Future[tuple[Notice, str]]:
        """The future of the next notice about `name` (shared by its waiters here)."""
        future = self._waiting.get(name)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._waiting[name] = future
        return future

    def handle(self, payload: bytes) -> None:
        """A message of `cache:filled`: `+key`, `-key` or `!key\\nerror`."""
        kind, body = payload[:1], payload[1:].decode(errors="replace")
        if kind == FAILED:
            name, _, error = body.partition("\n")
            self._resolve(name, Notice.FAILED, error)
        elif kind == FILLED:
            self._resolve(body, Notice.FILLED, "")
        elif kind == ABANDONED:
            self._resolve(body, Notice.ABANDONED, "")

    def lost(self) -> None:
        """The subscription dropped: every waiter re-checks at once."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_result((Notice.LOST, ""))

    def _resolve(self, name: str, notice: Notice, text: str) -> None:
        future = self._waiting.pop(name, None)
        if future is not None and not future.done():
            future.set_result((notice, text))


async def wait_for_notice(
    future: asyncio.Future[tuple[Notice, str]], seconds: float
) -> tuple[Notice, str] | None:
    """The notice, or None after `seconds` (the future stays usable by other waiters)."""
    try:
        return await asyncio.wait_for(asyncio.shield(future), seconds)
    except TimeoutError:
        return None


class LeaseKeeper:
    """Keeps the leases of this process's loads alive: one background task (`run`) extends,
    every third of a lease's life and in one round trip, each lease held longer than that,
    for at most `max_hold`. A load costs a dict insert and a pop; a fast load is never
    extended."""

    __slots__ = ("_extend", "_interval", "_max_hold", "held")

    def __init__(
        self,
        extend: Callable[[list[tuple[str, bytes]]], Awaitable[None]],
        lease_ttl: float,
        max_hold: float,
    ) -> None:
        self._extend = extend
        self._interval = lease_ttl / 3
        self._max_hold = max_hold
        self.held: dict[bytes, tuple[str, float]] = {}  # marker -> (key, since)

    def hold(self, name: str, marker: bytes) -> None:
        self.held[marker] = (name, monotonic())

    def release(self, marker: bytes) -> None:
        self.held.pop(marker, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            now = monotonic()
            due = [
                (name, marker)
                for marker, (name, since) in self.held.items()
                if self._interval <= now - since < self._max_hold
            ]
            if due:
                with contextlib.suppress(Exception):  # Redis trouble: the store will tell
                    await self._extend(due)
