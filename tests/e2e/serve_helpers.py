"""Helpers for running `gomeet` commands and servers as subprocesses."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from helpers import gomeet_command

STARTUP_TIMEOUT_S = 60
SHUTDOWN_TIMEOUT_S = 30
# Settings of the outer environment that a served app must not inherit.
OUTER_SETTINGS = ("REDIS_", "DATABASE_", "TEST_", "JWT_", "RATE_LIMIT_", "LOG_", "FORWARDED_",
                  "GOMEET_", "VAR_DIR", "ENVIRONMENT")  # fmt: skip


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    cwd: Path
    env: dict[str, str]

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

    def workers(self) -> list[int]:
        """The pids of uvicorn's worker processes (children that multiprocessing spawned)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if parent == self.process.pid and b"spawn_main" in cmdline:
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def gomeet(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Another `gomeet` command, run where the server runs, with its environment."""
        return subprocess.run(
            [*gomeet_command(), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
