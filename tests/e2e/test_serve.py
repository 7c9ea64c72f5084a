"""`gomeet migrate` and `gomeet serve` as a user runs them: real processes, real HTTP.

No Redis is configured, so `serve` starts one embedded redis-server; whatever signal stops
`serve`, that child must not outlive it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT_S = 60
SHUTDOWN_TIMEOUT_S = 30


def gomeet_command() -> list[str]:
    script = Path(sys.executable).parent / "gomeet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gomeet.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie (one whose exit nobody collected)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def wait_until_gone(pid: int) -> bool:
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT_S
    while is_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def records(self) -> list[dict[str, object]]:
        """The server's stdout: one JSON record per line."""
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def embedded_redis(self) -> tuple[int, Path]:
        """The pid of the embedded redis-server and the private directory of its socket."""
        started = [r for r in self.records() if r["event"] == "embedded_redis_started"]
        assert len(started) == 1, self.log_path.read_text()
        pid, url = started[0]["pid"], started[0]["url"]
        assert isinstance(pid, int)
        assert isinstance(url, str)
        assert url.startswith("unix://")
        return pid, Path(url.removeprefix("unix://").split("?")[0]).parent


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh SQLite database, migrated by `gomeet migrate` run from an unrelated directory."""
    root = tmp_path_factory.mktemp("e2e")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_", "DATABASE_", "TEST_", "JWT_", "RATE_LIMIT_", "LOG_"))
    }
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{root / 'db' / 'gomeet.db'}"
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [*gomeet_command(), "migrate"], cwd=elsewhere, env=env, capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()
    assert (root / "db" / "gomeet.db").exists()
    return env


@pytest.fixture
def start_server(server_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(workers: int = 1) -> Server:
        port = free_port()
        log_path = tmp_path / "serve.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [*gomeet_command(), "serve", "--port", str(port), "--workers", str(workers)],
                cwd=tmp_path,
                env=server_env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        server = Server(process, f"http://127.0.0.1:{port}", log_path)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert process.poll() is None, f"serve exited early:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"serve did not start:\n{log_path.read_text()}"
            try:
                if httpx.get(f"{server.base_url}/api/health", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.2)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def register_and_fetch_me(base_url: str) -> tuple[str, str]:
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=10) as client:
        registered = client.post(
            "/auth/register",
            json={"username": "e2e_user", "email": "e2e@example.com", "password": DEFAULT_PASSWORD},
        )
        assert registered.status_code == 201, registered.text
        data = registered.json()["data"]
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {data['accessToken']}"})
        assert me.status_code == 200, me.text
        assert me.json()["data"]["user"]["email"] == "e2e@example.com"
        assert me.headers["x-ratelimit-limit"] == "1000"  # the per-user bucket
    return data["accessToken"], data["refreshToken"]


def test_serve_answers_over_http_and_sigterm_leaves_no_redis(
    start_server: Callable[..., Server],
) -> None:
    server = start_server()
    redis_pid, socket_dir = server.embedded_redis()
    assert parent_of(redis_pid) == server.process.pid

    health = httpx.get(f"{server.base_url}/api/health", timeout=5).json()["data"]
    assert health["status"] == "ok"
    tokens = register_and_fetch_me(server.base_url)

    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    assert wait_until_gone(redis_pid)
    assert not socket_dir.exists()

    records = server.records()
    access = [r for r in records if r["event"] == "request"]
    assert {r["path"] for r in access} >= {"/api/health", "/api/v1/auth/register"}
    assert all(r["request_id"] for r in access)
    text = server.log_path.read_text()
    for secret in (DEFAULT_PASSWORD, *tokens):
        assert secret not in text


@pytest.mark.parametrize(
    ("stop_signal", "workers"),
    [(signal.SIGINT, 1), (signal.SIGKILL, 1), (signal.SIGTERM, 2)],
    ids=["sigint", "sigkill", "sigterm-2-workers"],
)
def test_stopping_serve_never_leaves_an_orphan_redis(
    start_server: Callable[..., Server], stop_signal: signal.Signals, workers: int
) -> None:
    server = start_server(workers)
    redis_pid, socket_dir = server.embedded_redis()
    assert is_running(redis_pid)

    server.process.send_signal(stop_signal)
    server.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    assert wait_until_gone(redis_pid)
    if stop_signal is signal.SIGKILL:
        shutil.rmtree(socket_dir, ignore_errors=True)  # nobody was left to remove it
    else:
        assert not socket_dir.exists()
