"""`gomeet` command line: serve, migrate, users, cache, bench."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gomeet.config import Settings

app = typer.Typer(help="GoMeet backend", no_args_is_help=True, add_completion=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    """Serve the API with uvicorn; starts an embedded Redis when none is configured."""
    import uvicorn

    from gomeet.embedded import EmbeddedRedis

    settings = Settings()
    embedded = None
    if not settings.redis_configured:
        # One embedded Redis for all workers, stopped when serve exits.
        embedded = EmbeddedRedis().start()
        os.environ["REDIS_URL"] = embedded.url
    try:
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


@app.command()
def migrate() -> None:
    """Apply the database migrations to DATABASE_URL (SQLite under var/ by default)."""
    from gomeet.migrate import upgrade

    settings = Settings()
    upgrade(settings.effective_database_url)
    typer.echo("migrations applied")


if __name__ == "__main__":
    app()
