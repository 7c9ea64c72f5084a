"""`gomeet serve` as a subprocess: a fresh SQLite database migrated by `gomeet migrate`,
and a fixture that starts servers (options, extra environment) and kills what is left."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from serve_helpers import OUTER_SETTINGS, STARTUP_TIMEOUT_S, Server

from helpers import free_port, gomeet_command


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh SQLite database, migrated by `gomeet migrate` run from an unrelated directory."""
    root = tmp_path_factory.mktemp("e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUTER_SETTINGS)}
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
    """`start_server(workers=1, *args, env={...})`: serve on a free port, wait for liveness."""
    started: list[subprocess.Popen[bytes]] = []

    def start(workers: int = 1, *args: str, env: dict[str, str] | None = None) -> Server:
        port = free_port()
        log_path = tmp_path / f"serve-{len(started)}.log"
        full_env = {**server_env, **(env or {})}
        command = [*gomeet_command(), "serve", "--port", str(port), "--workers", str(workers)]
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [*command, *args],
                cwd=tmp_path,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        server = Server(process, f"http://127.0.0.1:{port}", log_path, tmp_path, full_env)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert process.poll() is None, f"serve exited early:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"serve did not start:\n{log_path.read_text()}"
            try:
                if httpx.get(f"{server.base_url}/api/health/live", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.2)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
