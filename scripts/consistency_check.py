"""The consistency checker's long form (tests/consistency/checker.py): minutes of concurrent
writers and readers over N app instances sharing one Redis and one database, PostgreSQL
reached through the fault-injecting proxy (tests/support/proxy.py) with a delay, and a
`GOMEET_CACHE=off` oracle on the same database. Prints the summary table: operations per
endpoint, stale reads, stale entries.

    .venv/bin/python scripts/consistency_check.py --duration 300
    .venv/bin/python scripts/consistency_check.py --duration 120 --l1 --readers 8 --members 6
    .venv/bin/python scripts/consistency_check.py --database sqlite --duration 60
    .venv/bin/python scripts/consistency_check.py --duration 120 --redis-blackhole 10,3

Servers: `TEST_REDIS_URL` and `TEST_DATABASE_URL` when set (a private database is made on
that PostgreSQL server and dropped after), otherwise a private embedded Redis and a
private pgserver PostgreSQL. Exit status: 0 when nothing stale was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from consistency.checker import Checker, CheckerConfig
from consistency.instances import cluster, settle_time
from consistency.report import Report
from support.apps import app_settings, open_app
from support.proxy import TcpProxy, Upstream
from support.servers import (
    migrated,
    postgresql_server,
    redis_server,
    reset_database,
)

AsyncClientContext = contextlib.AbstractAsyncContextManager[httpx.AsyncClient]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--pg-delay-ms", type=float, default=5.0, help="per chunk, each way")
    parser.add_argument("--pg-jitter-ms", type=float, default=5.0)
    parser.add_argument("--instances", type=int, default=2, help="cached app instances")
    parser.add_argument("--l1", action="store_true", help="GOMEET_CACHE_L1=on")
    parser.add_argument("--l1-ttl", type=float, default=2.0)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--meetings-per-host", type=int, default=3)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--guests", type=int, default=3)
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--pause", type=float, default=0.01, help="max s between two writes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--redis-blackhole",
        metavar="EVERY,FOR",
        help="every EVERY s, black-hole instance A's Redis link for FOR s (each instance "
        "then reaches Redis through a proxy of its own)",
    )
    return parser.parse_args()


@contextlib.contextmanager
def database(kind: str, scratch: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield migrated(f"sqlite+aiosqlite:///{scratch / 'gomeet.db'}")
        return
    with postgresql_server() as url:
        yield migrated(url)


async def check(args: argparse.Namespace, database_url: str, redis_url: str, var: Path) -> Report:
    await reset_database(database_url)
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    with contextlib.ExitStack() as proxies:
        app_database_url = database_url
        if database_url.startswith("postgresql"):
            proxy = proxies.enter_context(TcpProxy(Upstream.of_database_url(database_url)))
            proxy.delay(args.pg_delay_ms, args.pg_jitter_ms)
            app_database_url = proxy.database_url(database_url)

        def open_client(**overrides: Any) -> AsyncClientContext:
            """Instances reach PostgreSQL through the proxy; the oracle, directly."""
            url = database_url if overrides.get("gomeet_cache") is False else app_database_url
            # Errors only: the apps' warnings (e.g. Redis timeouts) would bury the table.
            return open_app(app_settings(url, redis_url, var, log_level="ERROR", **overrides))

        config = CheckerConfig(
            duration=args.duration,
            settle=settle_time(args.l1, args.l1_ttl),
            hosts=args.hosts,
            meetings_per_host=args.meetings_per_host,
            members=args.members,
            guests=args.guests,
            readers=args.readers,
            pause=args.pause,
            seed=args.seed,
        )
        redis_proxies = [
            proxies.enter_context(TcpProxy(Upstream.of_redis_url(redis_url), seed=i))
            for i in range(args.instances if args.redis_blackhole else 0)
        ]
        overrides: list[dict[str, Any]] = [
            {"redis_url": redis_proxies[i].redis_url(redis_url)} if redis_proxies else {}
            for i in range(args.instances)
        ]
        async with cluster(open_client, l1=args.l1, l1_ttl=args.l1_ttl, overrides=overrides) as (
            instances,
            oracle,
        ):
            checker = Checker(instances, oracle, config)
            if not redis_proxies:
                return await checker.run()
            every, length = (float(x) for x in args.redis_blackhole.split(","))
            loop = asyncio.get_running_loop()
            async with checker.running():
                deadline = loop.time() + args.duration
                while loop.time() + every <= deadline:
                    await asyncio.sleep(every - length)
                    redis_proxies[0].blackhole()
                    await asyncio.sleep(length)
                    redis_proxies[0].passthrough()
                await asyncio.sleep(max(0.0, deadline - loop.time()))
            return await checker.finish()


def main() -> int:
    args = arguments()
    link = (
        f"PostgreSQL through the proxy, {args.pg_delay_ms:g} ± {args.pg_jitter_ms:g} ms per chunk"
        if args.database == "postgresql"
        else "SQLite"
    )
    faults = f", A's Redis black-holed {args.redis_blackhole} s" if args.redis_blackhole else ""
    print(
        f"consistency check: {args.instances} instances + oracle, {link}{faults}, "
        f"in-process tier {'on' if args.l1 else 'off'}, {args.duration:g} s, seed {args.seed}",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="gomeet-check-") as scratch,
        redis_server() as redis_url,
        database(args.database, Path(scratch)) as database_url,
    ):
        report = asyncio.run(check(args, database_url, redis_url, Path(scratch) / "var"))
    print(report.summary())
    return 1 if report.stale_reads or report.stale_entries or report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
