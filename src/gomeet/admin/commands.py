"""`gomeet cache ...`: operator commands on the servers' Redis (and database, for `warm`).

Readable tables by default, `--json` for machines; log records (warnings only) go to
stderr. Exit codes: 0 done, 1 the cache (or the database) could not do it, 2 a usage or
configuration error (no Redis configured).
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
from rich.table import Table

from gomeet.admin.service import FAMILIES, CacheAdminService, InvalidCacheFamily, parse_family
from gomeet.admin.warm import DEFAULT_MEETINGS, DEFAULT_USERS, MAX_TARGETS, WarmLimits, warm_with
from gomeet.cache import CacheRepository, open_cache
from gomeet.config import Settings
from gomeet.db import create_engine, make_sessionmaker
from gomeet.observability.logging import configure_logging

cache_app = typer.Typer(
    help="Inspect and maintain the cache in the Redis of REDIS_URL (or REDIS_HOST, …).",
    no_args_is_help=True,
)

T = TypeVar("T")
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]
NO_REDIS = (
    "No Redis configured. Set REDIS_URL (or REDIS_HOST, REDIS_CLUSTER_URL, "
    "REDIS_SENTINEL_URL) to the Redis the servers use. A server started without one runs "
    "an embedded Redis that is private to it: it cannot be reached from here."
)
COUNTERS = ("hits", "misses", "hitRatio", "loads", "sets", "deletes", "errors")


def _settings() -> Settings:
    settings = Settings()
    if not settings.redis_configured:
        _fail(NO_REDIS, code=2)
    # The operator works on Redis whether or not the servers read the cache.
    return settings.model_copy(update={"gomeet_cache": True})


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
        console.print(f"last updated: {_fmt(data['lastUpdated'])}   circuit: {data['circuit']}")
    if data["source"] != "redis":
        _fail("Redis unreachable: cache:stats could not be read.")


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
    as_json: JsonFlag = False,
) -> None:
    """Pre-populate the cache from the database (DATABASE_URL) with what is read most."""
    settings = _settings()
    limits = WarmLimits(users=users, meetings=meetings)

    async def run(cache: CacheRepository) -> dict[str, Any]:
        engine = create_engine(settings.effective_database_url)
        try:
            return await warm_with(make_sessionmaker(engine), cache, settings, limits)
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
        f"{report['users']} users, {report['meetings']} meetings in progress, "
        f"{report['guests']} guests, {report['featureFlags']} feature flags "
        f"in {report['durationMs']:g} ms"
    )
