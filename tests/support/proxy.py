"""A fault-injecting TCP proxy for the tests: in front of PostgreSQL or Redis.

It listens on 127.0.0.1:<free port> and forwards each connection to its upstream (a unix
socket, or host:port). It runs on its own thread with its own event loop, so a test's loop
(and the apps on it) can stall without stalling the network, and the reverse. The mode is
switched at run time from the test and applies at once to existing and new connections:

- `passthrough()`: bytes are forwarded as they come.
- `delay(ms, jitter_ms)`: each chunk read from one side is delivered to the other
  `ms ± jitter_ms` (uniform, never below 0) after it arrived. Order is kept per direction:
  a chunk is never delivered before the one read before it, so with jitter the effective
  delays bunch up behind slow chunks, as on a real link. The delay is latency, not a
  bandwidth cap: reading goes on while earlier chunks wait.
- `blackhole()`: nothing is forwarded either way and nothing is read; connections stay
  open, and new ones are accepted (the kernel completes the handshake) but carry nothing.
  A client sees timeouts, not refusals. Bytes already read are held and delivered, in
  order, when the mode changes back (TCP would retransmit them).
- `cut()`: every connection is reset (both sides) and new ones are accepted and reset at
  once: the client fails fast, as with a refused connection (the port stays ours, so no
  other process can take it meanwhile).

The random source is seeded (`seed`), so a run's delays are reproducible for a given
arrival order. `stats` counts connections and bytes, to show traffic did go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.engine import make_url

T = TypeVar("T")
CHUNK = 65536


class Mode(enum.Enum):
    PASS = "pass"
    DELAY = "delay"
    BLACKHOLE = "blackhole"
    CUT = "cut"


@dataclass(frozen=True)
class Upstream:
    """Where the proxy connects: a unix socket path, or a TCP host and port."""

    unix_path: str | None = None
    host: str | None = None
    port: int | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.unix_path is not None:
            return await asyncio.open_unix_connection(self.unix_path, limit=CHUNK)
        assert self.host is not None and self.port is not None
        return await asyncio.open_connection(self.host, self.port, limit=CHUNK)

    @classmethod
    def of_database_url(cls, url: str) -> Upstream:
        """The PostgreSQL server of a SQLAlchemy URL: `…@host:port/db`, or pgserver's
        `…@/db?host=/socket/dir` (its socket is `<dir>/.s.PGSQL.<port>`)."""
        parsed = make_url(url)
        socket_dir = parsed.query.get("host")
        if isinstance(socket_dir, str) and socket_dir.startswith("/"):
            return cls(unix_path=f"{socket_dir}/.s.PGSQL.{parsed.port or 5432}")
        return cls(host=parsed.host or "127.0.0.1", port=parsed.port or 5432)

    @classmethod
    def of_redis_url(cls, url: str) -> Upstream:
        """`unix:///path/redis.sock?db=N` or `redis://host:port/N`."""
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return cls(unix_path=parts.path)
        return cls(host=parts.hostname or "127.0.0.1", port=parts.port or 6379)


def proxied_database_url(url: str, port: int) -> str:
    """The same database (user, password, name) reached through 127.0.0.1:`port`."""
    parsed = make_url(url)
    query = {k: v for k, v in parsed.query.items() if k != "host"}
    return parsed.set(host="127.0.0.1", port=port, query=query).render_as_string(
        hide_password=False
    )


def proxied_redis_url(url: str, port: int) -> str:
    """The same Redis database (and password) reached through 127.0.0.1:`port`."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        db = parse_qs(parts.query).get("db", ["0"])[0]
        password = ""
    else:
        db = parts.path.lstrip("/") or "0"
        password = f":{parts.password}@" if parts.password else ""
    return f"redis://{password}127.0.0.1:{port}/{db}"


@dataclass
class ProxyStats:
    connections: int = 0
    bytes_up: int = 0  # client → upstream
    bytes_down: int = 0  # upstream → client
    resets: int = 0  # connections reset by `cut`, open ones and refused new ones


@dataclass
class _Direction:
    """One direction of one connection: chunks waiting to be written, in order."""

    writer: asyncio.StreamWriter
    queue: deque[tuple[float, bytes | None]] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    last_due: float = 0.0


class TcpProxy:
    """See the module docstring. Use as a context manager, or `start()` / `close()`."""

    def __init__(self, upstream: Upstream, *, seed: int = 0) -> None:
        self.upstream = upstream
        self.stats = ProxyStats()
        self.port = 0
        self._rng = random.Random(seed)
        self._mode = Mode.PASS
        self._delay_s = 0.0
        self._jitter_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None  # set unless black-holed
        self._connections: set[_Connection] = set()

    # -- life -----------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- modes (called from any thread; effective when the call returns) ------------------

    @property
    def mode(self) -> Mode:
        return self._mode

    def passthrough(self) -> None:
        self._call(self._set(Mode.PASS))

    def delay(self, ms: float, jitter_ms: float = 0.0) -> None:
        self._call(self._set(Mode.DELAY, ms / 1000, jitter_ms / 1000))

    def blackhole(self) -> None:
        self._call(self._set(Mode.BLACKHOLE))

    def cut(self) -> None:
        self._call(self._set(Mode.CUT))

    # -- URLs -----------------------------------------------------------------------------

    def database_url(self, url: str) -> str:
        return proxied_database_url(url, self.port)

    def redis_url(self, url: str) -> str:
        return proxied_redis_url(url, self.port)

    # -- inside the proxy's loop ----------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", 0, limit=CHUNK, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()
        me = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not me]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _set(self, mode: Mode, delay_s: float = 0.0, jitter_s: float = 0.0) -> None:
        assert self._flowing is not None
        self._mode, self._delay_s, self._jitter_s = mode, delay_s, jitter_s
        if mode is Mode.BLACKHOLE:
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode is Mode.CUT:
            for conn in list(self._connections):
                self.stats.resets += 1
                conn.abort()
        for conn in self._connections:
            conn.wake()

    def _sample_delay(self) -> float:
        if self._mode is not Mode.DELAY:
            return 0.0
        return max(0.0, self._delay_s + self._rng.uniform(-self._jitter_s, self._jitter_s))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._mode is Mode.CUT:
            self.stats.resets += 1
            _reset(writer)
            return
        self.stats.connections += 1
        try:
            up_reader, up_writer = await self.upstream.open()
        except OSError:
            _reset(writer)
            return
        conn = _Connection(self, reader, writer, up_reader, up_writer)
        self._connections.add(conn)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0): the peer fails at once instead of reading an EOF later."""
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Connection:
    """One client connection and its upstream: a reader and a writer task per direction."""

    def __init__(
        self,
        proxy: TcpProxy,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        self.proxy = proxy
        self.client_writer = client_writer
        self.up_writer = up_writer
        self.up = _Direction(up_writer)
        self.down = _Direction(client_writer)
        self._readers = ((client_reader, self.up, True), (up_reader, self.down, False))

    async def run(self) -> None:
        """Until one side's end (EOF or error) has been delivered to the other side."""
        readers = [asyncio.create_task(self._read(r, d, up)) for r, d, up in self._readers]
        writers = [asyncio.create_task(self._write(d)) for d in (self.up, self.down)]
        try:
            await asyncio.wait(writers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*readers, *writers):
                task.cancel()
            await asyncio.gather(*readers, *writers, return_exceptions=True)
            for writer in (self.client_writer, self.up_writer):
                writer.close()

    def abort(self) -> None:
        _reset(self.client_writer)
        _reset(self.up_writer)

    def wake(self) -> None:
        self.up.ready.set()
        self.down.ready.set()

    async def _read(self, reader: asyncio.StreamReader, to: _Direction, upward: bool) -> None:
        """Read chunks and queue them with their due time; stop reading while black-holed."""
        flowing = self.proxy._flowing
        assert flowing is not None
        while True:
            await flowing.wait()
            try:
                chunk = await reader.read(CHUNK)
            except OSError:
                chunk = b""
            now = time.monotonic()
            if chunk:
                if upward:
                    self.proxy.stats.bytes_up += len(chunk)
                else:
                    self.proxy.stats.bytes_down += len(chunk)
            due = max(now + self.proxy._sample_delay(), to.last_due)
            to.last_due = due
            to.queue.append((due, chunk or None))
            to.ready.set()
            if not chunk:
                return

    async def _write(self, d: _Direction) -> None:
        """Deliver queued chunks in order, each at its due time, while the mode allows."""
        flowing = self.proxy._flowing
        assert flowing is not None
        while True:
            while not d.queue:
                d.ready.clear()
                await d.ready.wait()
            await flowing.wait()
            due, chunk = d.queue[0]
            wait = due - time.monotonic()
            if wait > 0 and self.proxy.mode is Mode.DELAY:
                d.ready.clear()
                # Woken early by a mode change: re-check the mode (a black hole holds it).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(d.ready.wait(), wait)
                continue
            if not flowing.is_set():
                continue
            d.queue.popleft()
            if chunk is None:
                with contextlib.suppress(OSError):
                    await d.writer.drain()
                return
            d.writer.write(chunk)
            try:
                await d.writer.drain()
            except OSError:
                return
