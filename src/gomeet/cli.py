"""`gomeet` command line: serve, migrate, users, cache, bench."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import structlog
import typer

from gomeet.admin.commands import cache_app
from gomeet.auth.commands import users_app
from gomeet.config import Settings

log = structlog.get_logger("gomeet.cli")
app = typer.Typer(help="GoMeet backend", no_args_is_help=True, add_completion=False)
app.add_typer(users_app, name="users")
app.add_typer(cache_app, name="cache")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    """Serve the API with uvicorn; starts an embedded Redis when none is configured."""
    import uvicorn

    from gomeet.embedded import EmbeddedRedis
    from gomeet.observability.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    # uvicorn re-raises SIGTERM once it has shut down; exit through `finally` instead of dying
    # on the spot, so that the embedded Redis is stopped and its socket directory removed.
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    # Every worker must sign with the same secret: resolve it once (generated under var/ when
    # none is configured) and hand it to the workers.
    os.environ["JWT_SECRET"] = settings.effective_jwt_secret
    # One embedded Redis for all workers (they inherit REDIS_URL), stopped when serve exits.
    embedded = None if settings.redis_configured else EmbeddedRedis()
    try:
        if embedded:
            os.environ["REDIS_URL"] = embedded.start().url
            log.info("embedded_redis_started", pid=embedded.pid, url=embedded.url)
        uvicorn.run(
            "gomeet.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            server_header=False,
        )
    finally:
        if embedded:
            embedded.stop()
            log.info("embedded_redis_stopped")


@app.command()
def migrate() -> None:
    """Apply the database migrations to DATABASE_URL (SQLite under var/ by default)."""
    from gomeet.migrate import upgrade

    settings = Settings()
    upgrade(settings.effective_database_url)
    typer.echo("migrations applied")


@app.command()
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="small and short: under 2 min")] = False,
    json_file: Annotated[
        Path | None, typer.Option("--json", metavar="FILE", help="write the results as JSON")
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            metavar="NAME",
            help="micro-hit, micro-miss, api-read, stampede, outage (repeatable; default all)",
        ),
    ] = None,
    docs: Annotated[
        bool | None,
        typer.Option(
            "--docs/--no-docs",
            help="write docs/benchmarks.md and its plots (default: on for a full run)",
        ),
    ] = None,
    docs_dir: Annotated[Path | None, typer.Option(help="where docs are written")] = None,
) -> None:
    """The benchmark harness: ours vs raw redis-py, cashews, aiocache; cached vs uncached API."""
    from gomeet.bench import SCENARIOS
    from gomeet.bench.main import default_docs_dir, run_bench

    unknown = sorted(set(scenario or ()) - set(SCENARIOS))
    if unknown:
        raise typer.BadParameter(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}",
            param_hint="--scenario",
        )
    run_bench(
        quick=quick,
        scenarios=scenario or list(SCENARIOS),
        json_path=json_file,
        docs=(not quick) if docs is None else docs,
        docs_dir=docs_dir or default_docs_dir(),
        command=" ".join(["gomeet", *sys.argv[1:]]),
        log=lambda line: typer.echo(line, err=True),
    )


if __name__ == "__main__":
    app()
