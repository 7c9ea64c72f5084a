"""Server-side cost of a cached read: `GET /meetings/{id}` and `GET /auth/me`.

The app is driven in-process through raw ASGI calls (no network, no HTTP client), with
the in-process cache tier on, so that a request touches no socket at all: what is
measured is the Python work of routing, dependencies, the cache hit and the response
(`--redis-only`: the tier off, every hit a Redis round trip to the embedded server).
Rate limiting is off. Each round times every endpoint; the median over rounds is printed,
and the Python function calls per request (cProfile: the same on a busy machine).

    .venv/bin/python scripts/bench_cached_read.py [--requests 2000] [--rounds 7] [--redis-only]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from gomeet.app import create_app
from gomeet.config import Settings
from gomeet.migrate import upgrade

PASSWORD = "Str0ng-Passw0rd!x"


async def asgi_get(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """One GET through the ASGI interface; returns the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def main(requests: int, rounds: int, l1: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="gomeet-bench-") as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'gomeet.db'}"
        await asyncio.to_thread(upgrade, database_url)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            database_url=database_url,
            var_dir=Path(tmp) / "var",
            jwt_secret="bench-secret-" + "x" * 40,
            rate_limit_enabled=False,
            gomeet_cache_l1=l1,
            password_hash_time_cost=1,
            password_hash_memory_kib=1024,
            log_level="WARNING",
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                registered = await client.post(
                    "/api/v1/auth/register",
                    json={"username": "bench", "email": "bench@example.com", "password": PASSWORD},
                )
                token = registered.json()["data"]["accessToken"]
                auth = {"Authorization": f"Bearer {token}"}
                start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
                created = await client.post(
                    "/api/v1/meetings", json={"name": "Bench", "startTime": start}, headers=auth
                )
                meeting_id = created.json()["data"]["id"]
            headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"bench")]
            paths = {"GET /meetings/{id}": f"/api/v1/meetings/{meeting_id}",
                     "GET /auth/me": "/api/v1/auth/me"}  # fmt: skip
            for path in paths.values():  # warm: both values cached, in both tiers
                for _ in range(200):
                    assert await asgi_get(app, path, headers) == 200
            timings: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(rounds):
                for name, path in paths.items():
                    started = time.perf_counter()
                    for _ in range(requests):
                        await asgi_get(app, path, headers)
                    timings[name].append((time.perf_counter() - started) / requests * 1e6)
            calls = {}
            for name, path in paths.items():
                profile = cProfile.Profile()
                profile.enable()
                for _ in range(200):
                    await asgi_get(app, path, headers)
                profile.disable()
                calls[name] = round(pstats.Stats(profile).total_calls / 200)
            report = {
                name: {
                    "medianUs": round(statistics.median(values), 1),
                    "minUs": round(min(values), 1),
                    "callsPerRequest": calls[name],
                }
                for name, values in timings.items()
            }
            print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (median reported)")
    parser.add_argument("--redis-only", action="store_true", help="the in-process tier off")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds, not args.redis_only))
