"""`gomeet migrate` and `gomeet serve` as a user runs them: real processes, real HTTP.

No Redis is configured, so `serve` starts one embedded redis-server; whatever signal stops
`serve`, that child must not outlive it.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from serve_helpers import SHUTDOWN_TIMEOUT_S, Server

from helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.e2e


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
    [(signal.SIGINT, 1), (signal.SIGKILL, 1), (signal.SIGTERM, 2), (signal.SIGKILL, 2)],
    ids=["sigint", "sigkill", "sigterm-2-workers", "sigkill-2-workers"],
)
def test_stopping_serve_never_leaves_an_orphan_redis_or_worker(
    start_server: Callable[..., Server], stop_signal: signal.Signals, workers: int
) -> None:
    server = start_server(workers)
    redis_pid, socket_dir = server.embedded_redis()
    assert is_running(redis_pid)
    worker_pids = server.workers()
    assert len(worker_pids) == (workers if workers > 1 else 0)

    server.process.send_signal(stop_signal)
    server.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    assert wait_until_gone(redis_pid)
    for pid in worker_pids:  # killed `serve` or not, no worker goes on serving the port
        assert wait_until_gone(pid), pid
    if stop_signal is signal.SIGKILL:
        shutil.rmtree(socket_dir, ignore_errors=True)  # nobody was left to remove it
    else:
        assert not socket_dir.exists()
