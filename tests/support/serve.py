"""`gomeet serve` as a real process on the test servers, for the tests and the scripts
(an instance that can be SIGKILLed, or whose memory is measured)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from helpers import free_port, gomeet_command
from support.apps import TEST_JWT_SECRET


@contextlib.contextmanager
def serve(
    database_url: str,
    redis_url: str,
    var: Path,
    *,
    env: dict[str, str] | None = None,
    port: int = 0,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`gomeet serve` on `port` (a free one by default) with the test settings and `env`
    on top; (base URL, process) once it answers `/api/health`, killed at the end if alive."""
    port = port or free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_"))}
    full |= {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "RATE_LIMIT_ENABLED": "false",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
        "VAR_DIR": str(var),
        "LOG_LEVEL": "WARNING",
    }
    full |= env or {}
    process = subprocess.Popen(
        [*gomeet_command(), "serve", "--port", str(port)],
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "gomeet serve exited"
            assert time.monotonic() < deadline, "gomeet serve did not start"
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
