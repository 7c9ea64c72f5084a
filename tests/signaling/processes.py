"""`gomeet serve` as separate processes for the cross-process signaling tests: one with
`--workers N`, or several instances sharing one Redis and one database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from signaling_helpers import Endpoint

from helpers import free_port, gomeet_command

STARTUP_TIMEOUT_S = 60


def deployment_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a deployment: a migrated SQLite database shared by its
    processes, one JWT secret, short signaling intervals, no rate limit (the tests come
    from one address), cheap password hashing, unbuffered logs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_", "DATABASE_", "TEST_", "JWT_", "RATE_LIMIT_", "LOG_", "WS_"))
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{root / 'gomeet.db'}",
            "JWT_SECRET": "signaling-e2e-secret-" + "s" * 32,
            "RATE_LIMIT_ENABLED": "false",
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
            "WS_PING_INTERVAL": "500ms",
            "WS_PING_TIMEOUT": "1s",
            "WS_INSTANCE_TTL": "2s",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    if not (root / "gomeet.db").exists():
        result = subprocess.run(
            [*gomeet_command(), "migrate"], cwd=root, env=env, capture_output=True, timeout=120
        )
        assert result.returncode == 0, result.stderr.decode()
    return env


@dataclass
class Serve(Endpoint):
    """One `gomeet serve` (its workers included) and its log of JSON records."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _offset: int = 0
    _records: list[dict[str, Any]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """The records written so far (read incrementally)."""
        with self.log_path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            if line.startswith(b"{"):
                self._records.append(json.loads(line))
        return self._records

    def instance_of(self, participant_id: str) -> str | None:
        """The worker process (hub instance) that accepted a connection."""
        for record in self.records():
            if record.get("event") == "ws_connected" and record["participant_id"] == participant_id:
                instance: str = record["instance"]
                return instance
        return None

    def text(self) -> str:
        return self.log_path.read_text()

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)


def start_serve(env: dict[str, str], cwd: Path, workers: int = 1, name: str = "serve") -> Serve:
    port = free_port()
    log_path = cwd / f"{name}-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*gomeet_command(), "serve", "--port", str(port), "--workers", str(workers)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Serve(process, port, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        assert process.poll() is None, f"serve exited early:\n{log_path.read_text()}"
        assert time.monotonic() < deadline, f"serve did not start:\n{log_path.read_text()}"
        try:
            if httpx.get(f"{server.http_url}/api/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    if workers > 1:  # every worker up, not only the first to answer
        while len([r for r in server.records() if r.get("event") == "startup"]) < workers:
            assert time.monotonic() < deadline, f"workers did not start:\n{server.text()}"
            time.sleep(0.1)
    return server


def stop_all(servers: Iterator[Serve] | list[Serve]) -> None:
    """SIGTERM (so that workers and the embedded Redis go too), SIGKILL if that hangs."""
    running = [s for s in servers if s.process.poll() is None]
    for server in running:
        server.process.terminate()
    for server in running:
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
