"""api-read: the served API on seeded PostgreSQL, cache off / Redis only / Redis + in-process.

One environment (database, Redis, three servers, the load generator) serves api-read and
outage. Each round runs every mode: a short warm-up (not measured), then a measured window
with SQL statements and cache hits/misses read from the server's in-process counters just
before and after it, so the deltas belong to that window only.

With `BENCH_BEFORE_SRC=DIR` (a copy of an earlier `src/`), a fourth server, "off-before",
runs that code with the cache off in the same rounds: the uncached path before and after.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import ROOT
from bench.dataset import BENCH_PASSWORD, Dataset, seed
from bench.loadgen import LoadGenConfig, LoadGenerator
from bench.profiles import Profile
from bench.runner import RoundFn, Sample, paired_ratios, percentile, run_rounds, spread, summarize
from bench.servers import ApiServer, BenchRedis, private_postgres

MODES: dict[str, dict[str, str]] = {
    "off": {"GOMEET_CACHE": "off", "GOMEET_CACHE_L1": "off"},
    "redis": {"GOMEET_CACHE": "on", "GOMEET_CACHE_L1": "off"},
    "redis+l1": {"GOMEET_CACHE": "on", "GOMEET_CACHE_L1": "on"},
}
BASELINE = "off"
UNCACHED_BEFORE = "off-before"  # with BENCH_BEFORE_SRC: the earlier code, cache off


def before_pythonpath() -> str | None:
    """`PYTHONPATH` for a server of the earlier code in `BENCH_BEFORE_SRC`, if set."""
    before_src = os.environ.get("BENCH_BEFORE_SRC")
    return f"{before_src}{os.pathsep}{ROOT}" if before_src else None


HASH_TIME_COST, HASH_MEMORY_KIB = 1, 1024  # logins are not measured: keep seeding fast


class ApiEnvironment(contextlib.ExitStack):
    """PostgreSQL with the data set, a Redis, one server per mode, the load generator."""

    def __init__(self, profile: Profile, log: Any = print) -> None:
        super().__init__()
        self.profile = profile
        self.log = log
        self.setup_seconds = 0.0

    def __enter__(self) -> ApiEnvironment:
        super().__enter__()
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        self.setup_seconds = time.monotonic() - started
        return self

    def _start(self) -> None:
        import asyncio

        from argon2 import PasswordHasher, Type

        from gomeet.migrate import upgrade

        spec = self.profile.dataset
        self.database_url = self.enter_context(private_postgres())
        upgrade(self.database_url)
        self.dataset = Dataset(spec)
        hasher = PasswordHasher(time_cost=HASH_TIME_COST, memory_cost=HASH_MEMORY_KIB, type=Type.ID)
        password_hash = hasher.hash(BENCH_PASSWORD)
        self.postgres_version = asyncio.run(seed(self.database_url, self.dataset, password_hash))
        self.log(
            f"seeded {spec.users} users, {spec.meetings} meetings, {spec.participants} participants"
        )
        self.redis = self.enter_context(BenchRedis())
        self.jwt_secret = secrets.token_urlsafe(48)
        log_dir = Path(self.enter_context(tempfile.TemporaryDirectory(prefix="gomeet-bench-")))
        self.log_dir = log_dir
        common = {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "JWT_SECRET": self.jwt_secret,
            "JWT_ACCESS_TOKEN_EXPIRY": "24h",
            "RATE_LIMIT_ENABLED": "false",
            "ENVIRONMENT": "development",
            "VAR_DIR": str(log_dir / "var"),
            "PASSWORD_HASH_TIME_COST": str(HASH_TIME_COST),
            "PASSWORD_HASH_MEMORY_KIB": str(HASH_MEMORY_KIB),
            "LOG_FORMAT": "json",
        }
        self.common = common
        self.servers = {m: ApiServer(m, {**common, **MODES[m]}, log_dir) for m in MODES}
        if pythonpath := before_pythonpath():
            before = {**common, **MODES["off"], "PYTHONPATH": pythonpath}
            self.servers[UNCACHED_BEFORE] = ApiServer(UNCACHED_BEFORE, before, log_dir)
        for server in self.servers.values():
            self.callback(server.stop)
            server.launch()
        for server in self.servers.values():
            server.wait_ready()
        self.loadgen = LoadGenerator(
            LoadGenConfig(spec, self.jwt_secret, self.profile.api_concurrency)
        )
        self.callback(self.loadgen.close)
        self.login_status = self._login_check()

    def _login_check(self) -> int:
        """One real login of a seeded user: proves the seeded password hash and the auth path."""
        response = httpx.post(
            f"{self.servers[BASELINE].base_url}/api/v1/auth/login",
            json={"email": f"{self.dataset.username(0)}@example.com", "password": BENCH_PASSWORD},
            timeout=30,
        )
        return response.status_code


def counter_delta(after: dict[str, Any], before: dict[str, Any], *path: str) -> float:
    """`after[path] - before[path]` of two `/__bench/counters` readings (absent = 0)."""
    a: Any = after
    b: Any = before
    for part in path:
        a, b = a.get(part, {}), b.get(part, {})
    return float(a or 0) - float(b or 0)


def window_sample(result: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> Sample:
    ops = max(result["ops"], 1)
    hits = counter_delta(after, before, "cache", "hit")
    misses = counter_delta(after, before, "cache", "miss")
    extra = {
        "sql_per_request": counter_delta(after, before, "statements") / ops,
        "checkouts_per_request": counter_delta(after, before, "checkouts") / ops,
        "failed": float(result["failed"]),
        "first_touch_share": result["first_touch"] / ops,
    }
    if hits + misses > 0:
        extra["hit_ratio"] = hits / (hits + misses)
        extra["cache_errors"] = counter_delta(after, before, "cache", "error")
    return Sample(result["ops"], result["seconds"], result["latencies"], extra)


def run_api_read(env: ApiEnvironment) -> dict[str, Any]:
    import asyncio

    profile = env.profile
    modes = list(env.servers)
    failures: dict[str, dict[str, int]] = {m: {} for m in modes}
    by_kind: dict[str, dict[str, list[float]]] = {m: {} for m in modes}
    for server in env.servers.values():  # fill caches and buffers once, not measured
        env.loadgen.run(server.base_url, profile.api_warmup)

    def mode_round(mode: str) -> RoundFn:
        server = env.servers[mode]

        async def run() -> Sample:
            env.loadgen.run(server.base_url, profile.api_round_warmup)
            before = server.counters()
            result = env.loadgen.run(server.base_url, profile.api_seconds)
            after = server.counters()
            for kind, n in result["failed_by_kind"].items():
                failures[mode][kind] = failures[mode].get(kind, 0) + n
            for kind, latencies in result["by_kind"].items():
                by_kind[mode].setdefault(kind, []).extend(latencies)
            return window_sample(result, before, after)

        return run

    samples = asyncio.run(run_rounds({m: mode_round(m) for m in modes}, profile.api_rounds))
    spec = profile.dataset
    uncached = (
        paired_ratios(samples[BASELINE], samples[UNCACHED_BEFORE])
        if UNCACHED_BEFORE in samples
        else []
    )
    return {
        "scenario": "api-read",
        "uncached_vs_before": spread(uncached),
        "baseline": BASELINE,
        "dataset": {
            "users": spec.users,
            "meetings": spec.meetings,
            "participants": spec.participants,
        },
        "concurrency": profile.api_concurrency,
        "seconds_per_window": profile.api_seconds,
        "setup_seconds": env.setup_seconds,
        "login_status": env.login_status,
        "variants": [v.as_dict() for v in summarize(samples, BASELINE)],
        "failures": failures,
        "by_kind": {
            mode: {
                kind: {
                    "requests": len(lat),
                    "p50_ms": percentile(lat, 50) * 1000,
                    "p99_ms": percentile(lat, 99) * 1000,
                }
                for kind, lat in sorted(kinds.items())
            }
            for mode, kinds in by_kind.items()
        },
    }
