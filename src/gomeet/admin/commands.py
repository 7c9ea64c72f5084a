"""`gomeet cache ...`: operator commands on the servers' Redis (and database, for `warm`).

The Redis is the configured one (REDIS_URL, …) or, with none configured, the embedded Redis
of a `gomeet serve` running with the same VAR_DIR (the quick start's `make run`).
Readable tables by default, `--json` for machines; log records (warnings only) go to
stderr. Exit codes: 0 done, 1 the cache (or the database) could not do it, 2 a usage or
configuration error (no Redis to reach).
The commands work on the cache even when the servers run with `GOMEET_CACHE=off`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gomeet.admin.service import (
    FAMILIES,
    CacheAdminService,
    InvalidCacheFamily,
    parse_family,
    parse_one_family,
)
from gomeet.admin.warm import (
    DEFAULT_HOT,
    DEFAULT_MEETINGS,
    DEFAULT_RATE,
    DEFAULT_USERS,
    MAX_TARGETS,
    WarmLimits,
    warm_with,
)
from gomeet.cache import CacheRepository, Family, open_cache
from gomeet.config import Settings, load_settings
from gomeet.db import create_engine, make_sessionmaker
from gomeet.embedded import reach_servers_redis
from gomeet.errors import AppError
from gomeet.observability.logging import configure_logging

cache_app = typer.Typer(no_args_is_help=True)  # its help: `gomeet.cli.LAZY_GROUPS`

T = TypeVar("T")
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]
NO_REDIS = (
    "No Redis configured, and no running `gomeet serve` with an embedded Redis found under "
    "VAR_DIR ({var_dir}). Set REDIS_URL (or REDIS_HOST, REDIS_CLUSTER_URL, "
    "REDIS_SENTINEL_URL) to the Redis the servers use, or run this from the directory of "
    "the `gomeet serve` (`make run`) whose embedded Redis you mean."
)
COUNTERS = ("hits", "misses", "hitRatio", "loads", "sets", "deletes", "errors")


def _settings() -> Settings:
    settings = load_settings()
    reachable = reach_servers_redis(settings)
    if reachable is None:
        _fail(NO_REDIS.format(var_dir=settings.var_dir.resolve()), code=2)
    # The operator works on Redis whether or not the servers read the cache.
    return reachable.model_copy(update={"gomeet_cache": True})


def _with_cache(settings: Settings, action: Callable[[CacheRepository], Awaitable[T]]) -> T:
    """Run `action` on a cache of its own. Logs: warnings only, on stderr, so that stdout
    holds nothing but the command's output (JSON for machines)."""

    async def run() -> T:
        async with open_cache(settings) as cache:
            return await action(cache)

    configure_logging("WARNING", settings.log_format)
    with contextlib.redirect_stdout(sys.stderr):
        return asyncio.run(run())


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # tables unwrapped in pipes and logs
    return console


def _echo_json(data: Any) -> None:
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    typer.echo(orjson.dumps(data, option=options).decode())


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _fmt(value: Any) -> str:
    return "-" if value is None else str(value)


def _figures(figures: dict[str, Any]) -> list[str]:
    return [f"{figures[c]:.1%}" if c == "hitRatio" else _fmt(figures[c]) for c in COUNTERS]


@cache_app.command()
def stats(as_json: JsonFlag = False) -> None:
    """Hits, misses, sets, deletes, errors and hit ratio, summed over every instance."""
    data = _with_cache(_settings(), lambda cache: CacheAdminService(cache).stats())
    if as_json:
        _echo_json(data)
    else:
        table = Table(title="cache:stats")
        table.add_column("family")
        for name in COUNTERS:
            table.add_column(name, justify="right")
        for family, figures in sorted(data["families"].items()):
            table.add_row(family, *_figures(figures))
        table.add_section()
        table.add_row("total", *_figures(data), style="bold")
        console = _console()
        console.print(table)
        if data["source"] == "redis":
            _print_analytics(console, data)
        console.print(f"last updated: {_fmt(data['lastUpdated'])}   circuit: {data['circuit']}")
    if data["source"] != "redis":
        _fail("Redis unreachable: cache:stats could not be read.")


def _print_analytics(console: Console, data: dict[str, Any]) -> None:
    table = Table(title="analytics per family (tracked entries, all instances)")
    for name in ("family", "l1 / redis hit", "load p50 / p99 ms", "reads/s", "invalidated",
                 "expired hot", "never read", "ttl s", "advice"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("family", "advice") else "right")
    for family, figures in sorted(data["families"].items()):
        advice = data["ttlAdvice"].get(family, {})
        if figures.get("loadP50Ms") is None and not figures.get("trackedEnded"):
            continue
        table.add_row(
            family,
            f"{figures['l1HitRatio']:.0%} / {figures['redisHitRatio']:.0%}",
            f"{_fmt(figures['loadP50Ms'])} / {_fmt(figures['loadP99Ms'])}",
            _fmt(figures["readsPerSecond"]),
            f"{figures['invalidatedBeforeExpiry']:.0%}",
            f"{figures['expiredWhileHot']:.0%}",
            f"{figures['neverRead']:.0%}",
            _fmt(figures["ttlSeconds"]),
            f"{advice.get('recommendedSeconds')} s: {advice.get('reason')}",
        )
    console.print(table)
    if data["hotKeys"]:
        hot = Table(title="hot keys (estimated recent reads)")
        hot.add_column("key")
        hot.add_column("reads", justify="right")
        for entry in data["hotKeys"]:
            hot.add_row(entry["key"], str(entry["reads"]))
        console.print(hot)


@cache_app.command()
def health(as_json: JsonFlag = False) -> None:
    """Connectivity and a write/read/delete round trip; exit code 1 when it fails."""
    report = _with_cache(_settings(), lambda cache: CacheAdminService(cache).health())
    if as_json:
        _echo_json(report)
    else:
        table = Table(title="cache health", show_header=False)
        table.add_column("check")
        table.add_column("value")
        for name in ("status", "latencyMs", "error", "circuit", "pendingInvalidations"):
            table.add_row(name, _fmt(report.get(name)))
        _console().print(table)
    if report["status"] != "ok":
        raise typer.Exit(1)


@cache_app.command()
def get(
    key: Annotated[str, typer.Argument(help="a Redis key, e.g. user:profile:<id>")],
    as_json: JsonFlag = False,
) -> None:
    """One cached entry: its value (compressed values decoded), kind, TTL and size."""
    entry = _with_cache(_settings(), lambda cache: cache.inspect(key))
    if as_json:
        _echo_json(entry)
    elif entry.get("exists") and not entry.get("error"):
        console = _console()
        ttl = entry["ttlMs"]
        console.print(
            f"{key}  kind: {entry['kind']}  bytes: {entry['bytes']}  "
            f"ttl: {'none' if ttl is None else f'{ttl / 1000:g} s'}"
        )
        console.print_json(orjson.dumps(entry["value"]).decode())
    if entry.get("error"):
        _fail(f"{key}: {entry['error']}")
    if not entry.get("exists"):
        _fail(f"{key}: not in the cache")


@cache_app.command()
def flush(
    family: Annotated[
        str | None,
        typer.Option(help=f"one family ({', '.join(FAMILIES)}); default: every family"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete every cached key of one family, or of all (`cache:stats` is kept)."""
    try:
        chosen = parse_family(family)
    except InvalidCacheFamily as exc:
        _fail(exc.message, code=2)
    report = _with_cache(_settings(), lambda cache: CacheAdminService(cache).flush(chosen, "cli"))
    if as_json:
        _echo_json(report)
    elif report["applied"]:
        what = f"family {chosen.value}" if chosen else "every family"
        typer.echo(f"Deleted {report['deleted']} keys of {what}.")
    if not report["applied"]:
        _fail("Redis unreachable: nothing was flushed.")


@cache_app.command()
def warm(
    users: Annotated[
        int, typer.Option(min=0, max=MAX_TARGETS, help="most recently active users to warm")
    ] = DEFAULT_USERS,
    meetings: Annotated[
        int, typer.Option(min=0, max=MAX_TARGETS, help="meetings in progress to warm")
    ] = DEFAULT_MEETINGS,
    hot: Annotated[
        bool, typer.Option("--hot", help="first the hottest keys the analytics recorded")
    ] = False,
    hot_keys: Annotated[
        int, typer.Option(min=1, max=MAX_TARGETS, help="how many hot keys, with --hot")
    ] = DEFAULT_HOT,
    rate: Annotated[
        float, typer.Option(min=1, help="reads per second at most (spares the database)")
    ] = DEFAULT_RATE,
    as_json: JsonFlag = False,
) -> None:
    """Pre-populate the cache from the database (DATABASE_URL) with what is read most."""
    settings = _settings()
    limits = WarmLimits(users=users, meetings=meetings, hot=hot_keys if hot else 0, rate=rate)
    bar = Progress(
        TextColumn("warming"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), disable=as_json,
    )  # fmt: skip
    task = bar.add_task("warming", total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    async def run(cache: CacheRepository) -> dict[str, Any]:
        engine = create_engine(settings.effective_database_url)
        try:
            with bar:
                return await warm_with(make_sessionmaker(engine), cache, settings, limits, advance)
        finally:
            await engine.dispose()

    try:
        report = _with_cache(settings, run)
    except Exception as exc:  # the database: unreachable, not migrated, …
        _fail(f"Warming failed: {type(exc).__name__}: {exc}")
    if as_json:
        _echo_json(report)
        return
    table = Table(title="cache warmed")
    table.add_column("family")
    table.add_column("keys", justify="right")
    table.add_column("loaded", justify="right")
    for family, figures in report["families"].items():
        table.add_row(family, str(figures["keys"]), str(figures["loaded"]))
    table.add_section()
    table.add_row("total", str(report["keys"]), str(report["loaded"]), style="bold")
    console = _console()
    console.print(table)
    console.print(
        f"{report['hotKeys']} hot keys, {report['users']} users, "
        f"{report['meetings']} meetings in progress, "
        f"{report['guests']} guests, {report['featureFlags']} feature flags "
        f"in {report['durationMs']:g} ms"
    )


ttl_app = typer.Typer(help="Apply or revert a family's TTL advice on every instance.")
cache_app.add_typer(ttl_app, name="ttl")
FamilyArgument = Annotated[str, typer.Argument(help=f"one family ({', '.join(FAMILIES)})")]


def _family(value: str) -> Family:
    try:
        return parse_one_family(value)
    except InvalidCacheFamily as exc:
        _fail(exc.message, code=2)


def _ttl_decision(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _echo_json(record)
    else:
        typer.echo(
            f"{record['family']}: {record['before']:g} s -> {record['after']:g} s "
            f"({record['reason']})"
        )


@ttl_app.command("apply")
def ttl_apply(
    family: FamilyArgument,
    seconds: Annotated[
        int | None, typer.Option(min=1, help="this TTL instead of the advice (within bounds)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Apply the family's TTL advice (what `gomeet cache stats` shows) on every instance."""
    chosen = _family(family)

    async def run(cache: CacheRepository) -> dict[str, Any]:
        return await CacheAdminService(cache).apply_ttl(chosen, seconds, "cli")

    try:
        _ttl_decision(_with_cache(_settings(), run), as_json)
    except AppError as exc:
        _fail(exc.message)


@ttl_app.command("revert")
def ttl_revert(family: FamilyArgument, as_json: JsonFlag = False) -> None:
    """Back to the configured TTL on every instance (the auto-tuner then leaves it alone)."""
    chosen = _family(family)

    async def run(cache: CacheRepository) -> dict[str, Any]:
        return await CacheAdminService(cache).revert_ttl(chosen, "cli")

    try:
        _ttl_decision(_with_cache(_settings(), run), as_json)
    except AppError as exc:
        _fail(exc.message)
