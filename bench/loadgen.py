"""The api-read load generator: a separate process, driven through a socket pair.

It rebuilds the data set from its spec, mints an access token per user (with the servers'
JWT secret and the app's own token code), and on each `run` sends the workload from
`concurrency` keep-alive connections for a fixed time. Its workload state (which pairs it
joined) lives as long as the process, across runs and servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

from bench import child_env
from bench.dataset import Dataset, DatasetSpec
from bench.httpclient import HttpConnection, HttpError
from bench.workload import WRITES, Workload

REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class LoadGenConfig:
    dataset: DatasetSpec
    jwt_secret: str
    concurrency: int
    seed: int = 0
    mix: dict[str, float] | None = None  # default: the api-read mix
    hot_meetings: int | None = None  # meeting reads over this many meetings (default all)


def mint_tokens(config: LoadGenConfig, dataset: Dataset) -> list[str]:
    from gomeet.auth.security import TokenType, create_token
    from gomeet.config import Settings

    settings = Settings(
        _env_file=None, jwt_secret=config.jwt_secret, jwt_access_token_expiry=24 * 3600
    )
    return [create_token(settings, uid, TokenType.ACCESS, 0) for uid in dataset.user_ids]


async def run_load(
    workload: Workload,
    auth: list[dict[str, str]],
    seen: set[tuple[str, str, int]],
    base_url: str,
    seconds: float,
    concurrency: int,
    timeline: bool = False,
) -> dict[str, Any]:
    """Send the workload for `seconds`; per-request latencies and outcomes."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    events: list[tuple[float, float, bool]] = []  # (wall time at start, latency, ok)
    statuses: Counter[str] = Counter()
    failed_by_kind: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    first_touch = 0
    perf = time.perf_counter
    start = perf()
    end = start + seconds

    async def worker() -> None:
        nonlocal first_touch
        conn = HttpConnection(host, port)
        try:
            while (t0 := perf()) < end:
                request = workload.next_request()
                wall = time.time()
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        status, _ = await conn.request(
                            request.method, request.path, auth[request.user], request.body
                        )
                except (HttpError, TimeoutError):
                    conn.close()
                    status = 0
                latency = perf() - t0
                ok = 200 <= status < 300
                workload.on_response(request, ok)
                latencies.append(latency)
                by_kind.setdefault(request.kind, []).append(latency)
                statuses[str(status)] += 1
                kinds[request.kind] += 1
                if not ok:
                    failed_by_kind[f"{request.kind}:{status}"] += 1
                    if status == 0:
                        await asyncio.sleep(0.01)  # the server is gone: do not spin
                if request.kind not in WRITES and request.cache_key not in seen:
                    seen.add(request.cache_key)
                    first_touch += 1
                if timeline:
                    events.append((wall, latency, ok))
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "ops": len(latencies),
        "seconds": perf() - start,
        "latencies": latencies,
        "by_kind": by_kind,
        "failed": sum(failed_by_kind.values()),
        "failed_by_kind": dict(failed_by_kind),
        "statuses": dict(statuses),
        "kinds": dict(kinds),
        "first_touch": first_touch,
        "timeline": events,
    }


def _serve(conn: Connection, config: LoadGenConfig) -> None:  # pragma: no cover - child
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    dataset = Dataset(config.dataset)
    workload = Workload(dataset, mix=config.mix, seed=config.seed, hot_meetings=config.hot_meetings)
    auth = [{"Authorization": f"Bearer {token}"} for token in mint_tokens(config, dataset)]
    seen: set[tuple[str, str, int]] = set()
    conn.send({"ready": True})
    while True:
        command = conn.recv()
        if command["op"] == "stop":
            return
        result = asyncio.run(
            run_load(
                workload,
                auth,
                seen,
                command["base_url"],
                command["seconds"],
                config.concurrency,
                command.get("timeline", False),
            )
        )
        conn.send(result)


class LoadGenerator:
    """The parent's handle on the load-generator process (`python -m bench.loadgen`)."""

    def __init__(self, config: LoadGenConfig, start_timeout: float = 120.0) -> None:
        ours, theirs = socket.socketpair()
        self._conn = Connection(ours.detach())
        self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "bench.loadgen", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=child_env(),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn.send(config)
        deadline = time.monotonic() + start_timeout
        while not self._conn.poll(0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the load generator did not start")
        self._conn.recv()

    def start(self, base_url: str, seconds: float, timeline: bool = False) -> None:
        self._conn.send(
            {"op": "run", "base_url": base_url, "seconds": seconds, "timeline": timeline}
        )

    def result(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._conn.poll(0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the load generator died or did not answer in time")
        data: dict[str, Any] = self._conn.recv()
        return data

    def run(self, base_url: str, seconds: float, timeline: bool = False) -> dict[str, Any]:
        self.start(base_url, seconds, timeline)
        return self.result(seconds + REQUEST_TIMEOUT + 30)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send({"op": "stop"})
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._conn.close()


def main() -> None:  # pragma: no cover - the child process
    conn = Connection(int(sys.argv[1]))
    _serve(conn, conn.recv())


if __name__ == "__main__":
    main()
