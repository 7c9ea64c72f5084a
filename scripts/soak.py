"""The soak: minutes of mixed load over two real `gomeet serve` processes, with Redis
restarted (empty) every 2 minutes and PostgreSQL restarted once, judged by the consistency
checker (tests/consistency/checker.py) and a `GOMEET_CACHE=off` oracle.

    nice .venv/bin/python scripts/soak.py                 # 10 minutes
    nice .venv/bin/python scripts/soak.py --minutes 2 --json var/soak.json

The servers are private: an embedded Redis on a TCP port of its own (stopped and started
again, so it comes back empty) and a private PostgreSQL (stopped with a fast shutdown and
started again, data kept: tests/support/servers.py `RestartablePostgres`). Both instances
run with the in-process tier and the rate limiter on (limits never reached). Reported:
requests, failed requests (inside the PostgreSQL gap: any 503; outside: none), stale reads
(total, beyond the 1 s bound, and outside the faults' windows), stale entries at the end,
the RSS of each server process (start, peak, end; the bound is stated below) and the hit
ratio. Exit status 0 when every promise held.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from consistency.checker import Checker, CheckerConfig
from consistency.instances import L1_TTL, L1_WINDOW, Instance, settle_time
from consistency.report import Report
from gomeet.embedded import EmbeddedRedis
from helpers import free_port, scrape
from reliability.faults import STALE_BOUND_S, leaves_after_a_failed_join
from support.apps import app_settings, open_app
from support.serve import serve
from support.servers import RestartablePostgres, migrated

REDIS_DOWN_S = 1.0
PG_DOWN_S = 3.0
RECOVERY_S = 2.0  # after PostgreSQL is back, a pooled connection the restart closed may fail
RSS_BOUND_MB = 64.0  # growth of one server process from the first minute to the end
SERVER_ENV = {
    "GOMEET_CACHE_L1": "on",
    "GOMEET_CACHE_L1_TTL": f"{L1_TTL * 1000:.0f}ms",
    "RATE_LIMIT_ENABLED": "true",
    "RATE_LIMIT_GENERAL_REQUESTS": "1000000",
    "RATE_LIMIT_AUTH_REQUESTS": "1000000",
    "RATE_LIMIT_AUTHENTICATED_REQUESTS": "1000000",
    "LOG_LEVEL": "ERROR",
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of load")
    parser.add_argument("--redis-every", type=float, default=120.0, help="s between restarts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the result here")
    return parser.parse_args()


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    process = psutil.Process(pid)
    tree = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in tree) / 2**20


async def cache_reads(client: httpx.AsyncClient) -> Counter[str]:
    """One server's cache reads by result (its own counters: they survive Redis restarts),
    and its in-process tier's hits (`l1_hit`)."""
    totals: Counter[str] = Counter()
    for s in await scrape(client):
        if s.name == "gomeet_cache_requests_total":
            totals[s.labels["result"]] += int(s.value)
        elif s.name == "gomeet_cache_events_total" and s.labels["kind"] == "l1_hit":
            totals["l1_hit"] += int(s.value)
    return totals


class Faults:
    """The schedule: Redis restarted every `every` s, PostgreSQL once, between two of them."""

    def __init__(self, redis: EmbeddedRedis, pg: RestartablePostgres, every: float) -> None:
        self.redis, self.pg, self.every = redis, pg, every
        self.windows: list[tuple[str, float, float]] = []  # (what, start, end) monotonic

    async def run(self, seconds: float, sample: Any) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        pg_at = start + min(seconds / 2, self.every * 2.5)
        next_redis = start + self.every
        pg_done = False
        while True:
            now = loop.time()
            due = min(next_redis, pg_at if not pg_done else float("inf"), start + seconds)
            await asyncio.sleep(max(0.0, min(due - now, 10.0)))
            await sample()
            now = loop.time()
            if now >= start + seconds:
                return
            if not pg_done and now >= pg_at:
                await self._restart("postgresql", self.pg.stop, self.pg.start, PG_DOWN_S)
                pg_done = True
            elif now >= next_redis:
                await self._restart("redis", self.redis.stop, self.redis.start, REDIS_DOWN_S)
                next_redis += self.every

    async def _restart(self, what: str, stop: Any, start: Any, down: float) -> None:
        t0 = time.monotonic()
        await asyncio.to_thread(stop)
        await asyncio.sleep(down)
        await asyncio.to_thread(start)
        t1 = time.monotonic()
        self.windows.append((what, t0, t1))
        print(f"  {what} restarted: down {t1 - t0:.1f} s", flush=True)


def judge(report: Report, windows: list[tuple[str, float, float]]) -> dict[str, Any]:
    gaps = [(a, b + RECOVERY_S) for what, a, b in windows if what == "postgresql"]
    unjoined = {id(o) for o in leaves_after_a_failed_join(report)}  # a join the gap refused
    counted = [o for o in report.outcomes if id(o) not in unjoined]
    in_gap = [o for o in counted if any(o.end >= a and o.start < b for a, b in gaps)]
    gap_ids = {id(o) for o in in_gap}
    failed_outside = sum(1 for o in counted if o.status != 200 and id(o) not in gap_ids)
    spans = [(a, b + STALE_BOUND_S) for _, a, b in windows]
    stale_outside = [s for s in report.stale_reads if not any(a <= s.start < b for a, b in spans)]
    return {
        "requests": len(report.outcomes),
        "writes": report.writes,
        "statuses": dict(sorted(report.statuses().items())),
        "requests_in_the_postgresql_gap": len(in_gap),
        "statuses_in_the_postgresql_gap": dict(sorted(Counter(o.status for o in in_gap).items())),
        "failed_outside_the_postgresql_gap": failed_outside,
        "leaves_after_a_refused_join": len(unjoined),
        "stale_reads": Report.reads_of(report.stale_reads),
        "stale_reads_beyond_1s": Report.reads_of(report.stale(beyond=STALE_BOUND_S)),
        "stale_reads_outside_windows": Report.reads_of(stale_outside),
        "worst_lag_s": round(report.worst_lag(), 3),
        "stale_entries": len(report.stale_entries),
        "p50_ms": round(report.latency(50) * 1000, 1),
        "p99_ms": round(report.latency(99) * 1000, 1),
    }


async def soak(args: argparse.Namespace, redis: EmbeddedRedis, pg: RestartablePostgres) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="gomeet-soak-"))
    seconds = args.minutes * 60
    with contextlib.ExitStack() as processes:
        servers = [
            processes.enter_context(serve(pg.url, redis.url, scratch / n, env=SERVER_ENV))
            for n in ("a", "b")
        ]
        settings = app_settings(pg.url, redis.url, scratch / "oracle", gomeet_cache=False)
        async with contextlib.AsyncExitStack() as clients:
            http = [
                await clients.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
                for base, _ in servers
            ]
            oracle = await clients.enter_async_context(open_app(settings))
            instances = [Instance(n, c, L1_WINDOW) for n, c in zip("AB", http, strict=True)]
            config = CheckerConfig(
                duration=seconds, settle=settle_time(True), hosts=3, meetings_per_host=3,
                members=4, guests=3, readers=6, seed=args.seed,
            )  # fmt: skip
            checker = Checker(instances, Instance("oracle", oracle), config)
            faults = Faults(redis, pg, args.redis_every)
            rss: list[list[float]] = [[], []]
            warm_until = time.monotonic() + min(60.0, seconds / 4)

            async def sample() -> None:
                if time.monotonic() >= warm_until:  # the first minute is the start-up's
                    for i, (_, process) in enumerate(servers):
                        rss[i].append(rss_mb(process.pid))

            async with checker.running():
                await faults.run(seconds, sample)
            report = await checker.finish()
            await sample()
            reads = [await cache_reads(c) for c in http]
    result = judge(report, faults.windows)
    total = sum(reads, Counter())
    lookups = total["hit"] + total["miss"] + total["error"]
    result |= {
        "minutes": args.minutes,
        "faults": [(what, round(b - a, 2)) for what, a, b in faults.windows],
        "rss_mb": {
            name: {"start": round(r[0], 1), "peak": round(max(r), 1), "end": round(r[-1], 1)}
            for name, r in zip("AB", rss, strict=True)
            if r
        },
        "rss_bound_mb": RSS_BOUND_MB,
        "cache_reads": dict(total),
        "hit_ratio": round(total["hit"] / lookups, 3) if lookups else 0.0,
    }
    growth = max((r[-1] - r[0] for r in rss if r), default=0.0)
    ok = (
        result["failed_outside_the_postgresql_gap"] == 0
        and set(result["statuses_in_the_postgresql_gap"]) <= {200, 503}
        and result["stale_reads_outside_windows"] == 0
        and result["stale_reads_beyond_1s"] == 0
        and result["stale_entries"] == 0
        and growth <= RSS_BOUND_MB
    )
    result["held"] = ok
    print(report.summary())
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


def main() -> int:
    args = arguments()
    print(
        f"soak: {args.minutes:g} min over 2 `gomeet serve` + oracle; Redis restarted every "
        f"{args.redis_every:g} s, PostgreSQL once; seed {args.seed}",
        flush=True,
    )
    with EmbeddedRedis(port=free_port()) as redis, RestartablePostgres() as pg:
        migrated(pg.url)
        return asyncio.run(soak(args, redis, pg))


if __name__ == "__main__":
    sys.exit(main())
