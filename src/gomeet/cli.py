"""`gomeet` command line: serve, migrate, users, cache, and bench (forwarded to the harness).

Imports are lazy: this module loads typer and nothing of the app, and the `users` and
`cache` groups are imported only when one of their commands runs, so that `gomeet --help`
starts in a fraction of a second. A command's heavy imports live in its body.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

# Command groups loaded on first use: name -> (module:attribute of its Typer app, help).
LAZY_GROUPS = {
    "users": ("gomeet.auth.commands:users_app", "Manage users."),
    "cache": (
        "gomeet.admin.commands:cache_app",
        "Inspect and maintain the cache in the servers' Redis (REDIS_URL, REDIS_HOST, …, "
        "or the embedded Redis of a `gomeet serve` running here).",
    ),
}
DEFAULT_GRACEFUL_TIMEOUT_S = 25


class _LazyGroup(TyperGroup):
    """Stands in for a command group in the listing; the real group is built on use."""

    def __init__(self, name: str, target: str, help_text: str) -> None:
        super().__init__(name=name, help=help_text)
        self._target = target
        self._real: TyperGroup | None = None

    def load(self) -> TyperGroup:
        if self._real is None:
            module, attribute = self._target.split(":")
            real = typer.main.get_group(getattr(importlib.import_module(module), attribute))
            real.name, real.help = self.name, self.help
            self._real = real
        return self._real

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        return self.load().make_context(info_name, args, parent, **extra)


class _Commands(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, (target, help_text) in LAZY_GROUPS.items():
            self.add_command(_LazyGroup(name, target, help_text))


app = typer.Typer(help="GoMeet backend", no_args_is_help=True, add_completion=False, cls=_Commands)


def main() -> None:
    """The `gomeet` entry point: a configuration error is a few readable lines, exit code 2."""
    try:
        app()
    except Exception as exc:
        from gomeet.config import ConfigurationError

        if not isinstance(exc, ConfigurationError):
            raise
        typer.echo("gomeet: invalid configuration (environment or .env):", err=True)
        for line in exc.problems:
            typer.echo(f"  {line}", err=True)
        raise SystemExit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="comma-separated proxy addresses or networks whose X-Forwarded-For is "
            "trusted for the client address ('*': any); default FORWARDED_ALLOW_IPS, "
            "else loopback only",
        ),
    ] = None,
    graceful_timeout: Annotated[
        int,
        typer.Option(
            min=0,
            help="on SIGTERM/SIGINT, seconds to let requests in flight finish before "
            "they are cancelled (keep it below your orchestrator's kill timeout)",
        ),
    ] = DEFAULT_GRACEFUL_TIMEOUT_S,
) -> None:
    """Serve the API with uvicorn; starts an embedded Redis when none is configured."""
    import shutil
    import tempfile

    import structlog
    import uvicorn

    from gomeet.config import load_settings
    from gomeet.embedded import EmbeddedRedis, RedisAddress
    from gomeet.observability.logging import configure_logging
    from gomeet.signaling import uvicorn_options

    if forwarded_allow_ips is not None:  # the workers read it from the environment
        os.environ["FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    log = structlog.get_logger("gomeet.cli")
    # uvicorn re-raises SIGTERM once it has shut down; exit through `finally` instead of dying
    # on the spot, so that the embedded Redis is stopped and its socket directory removed.
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    # Every worker must sign with the same secret: resolve it once (generated under var/ when
    # none is configured) and hand it to the workers.
    os.environ["JWT_SECRET"] = settings.effective_jwt_secret
    # Where the workers exchange their metrics, so that one scrape reports them all.
    metrics_dir = None
    if settings.gomeet_metrics_dir is None:
        metrics_dir = tempfile.mkdtemp(prefix="gomeet-metrics-")
        os.environ["GOMEET_METRICS_DIR"] = metrics_dir
    # One embedded Redis for all workers (they inherit REDIS_URL), stopped when serve exits;
    # its address is published under var/ for the `gomeet cache` and `users` commands.
    embedded = None if settings.redis_configured else EmbeddedRedis()
    address = RedisAddress(settings.var_dir)
    try:
        if embedded:
            os.environ["REDIS_URL"] = embedded.start().url
            address.publish(embedded.url)
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
            proxy_headers=False,  # the app applies FORWARDED_ALLOW_IPS itself
            timeout_graceful_shutdown=graceful_timeout,
            **uvicorn_options(settings),
        )
    finally:
        if embedded:
            address.withdraw(embedded.url)
            embedded.stop()
            log.info("embedded_redis_stopped")
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def migrate() -> None:
    """Apply the database migrations to DATABASE_URL (SQLite under var/ by default)."""
    from gomeet.config import load_settings
    from gomeet.migrate import upgrade

    settings = load_settings()
    upgrade(settings.effective_database_url)
    typer.echo("migrations applied")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench(ctx: typer.Context) -> None:
    """The benchmark harness (`python -m bench` of a source checkout); options: see --help."""
    harness = _bench_harness()
    if harness is None:
        typer.echo(
            "gomeet bench: the benchmark harness is not installed. It is not part of the "
            "gomeet package: run it from a source checkout (`make bench`, or "
            "`python -m bench --help` in the checkout, with `pip install -e '.[bench]'`).",
            err=True,
        )
        raise SystemExit(2)
    harness(list(ctx.args), program="gomeet bench")


def _bench_harness() -> Any:
    """`bench.cli.main` of the checkout: importable, or next to this editable install."""
    import importlib.util

    checkout = Path(__file__).resolve().parents[2]
    try:
        if importlib.util.find_spec("bench") is None and (checkout / "bench/cli.py").is_file():
            sys.path.insert(0, str(checkout))
        from bench.cli import main as harness  # type: ignore[import-not-found,unused-ignore]
    except (ImportError, ValueError):  # ValueError: a module `bench` without a spec
        return None
    return harness


if __name__ == "__main__":
    main()
