"""The servers a benchmark talks to, all on this machine and stopped with the run.

PostgreSQL: a private pgserver instance, or a fresh database on `BENCH_DATABASE_URL`'s
server. Redis: a private embedded redis-server on a loopback TCP port (which the outage
scenario stops and restarts), or `BENCH_REDIS_URL`. API: `bench.server` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench import child_env
from gomeet.embedded import EmbeddedRedis, terminate


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _admin_execute(url: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def private_postgres() -> Iterator[str]:
    """A `postgresql+asyncpg://` URL of a database that exists only for this run."""
    base = os.environ.get("BENCH_DATABASE_URL")
    if base:
        name = f"gomeet_bench_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin_execute(base, f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(base).set(database=name).render_as_string(hide_password=False)
        finally:
            asyncio.run(_admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="gomeet-bench-pg-") as data_dir:
        server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
        try:
            socket_dir = make_url(server.get_uri()).query["host"]
            yield f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"
        finally:
            server.cleanup()


class BenchRedis:
    """The Redis of a run: private on a fixed loopback port (so it can be restarted), or given.

    Start and restart from the main thread: the embedded server is told to exit when the
    thread that started it dies.
    """

    def __init__(self) -> None:
        self.external = os.environ.get("BENCH_REDIS_URL")
        self.port = free_port()
        self._server: EmbeddedRedis | None = None

    @property
    def url(self) -> str:
        return self.external or f"redis://127.0.0.1:{self.port}/0"

    @property
    def restartable(self) -> bool:
        return self.external is None

    def start(self) -> BenchRedis:
        if not self.external and self._server is None:
            self._server = EmbeddedRedis(port=self.port).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> BenchRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ApiServer:
    """One `bench.server` process (the API as `gomeet serve` runs it, plus counters), or
    another app module with the same command line and counters route (`bench.floor`).
    With `workers` > 1 each `counters()` reading is one worker's, whichever answers it."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log_dir: Path,
        module: str = "bench.server",
        workers: int = 1,
    ) -> None:
        self.name = name
        self.module = module
        self.workers = workers
        self.port = free_port()
        self.env = child_env(env)
        self.log_path = log_dir / f"server-{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        args = [sys.executable, "-m", self.module, "--port", str(self.port)]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the JSON log records: formatted, then dropped
                stderr=log,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self._process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"server {self.name} exited: {self._tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/__bench/counters", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server {self.name} did not start within {timeout:.0f} s")

    def _tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def counters(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/__bench/counters", timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def stop(self) -> None:
        if self._process:
            terminate(self._process, timeout=15)
        self._process = None
