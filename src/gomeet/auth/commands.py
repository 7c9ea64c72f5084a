"""`gomeet users ...`: operator commands on users."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

import typer

from gomeet.auth.models import Role
from gomeet.auth.repository import UserRepository
from gomeet.auth.schemas import normalise_email
from gomeet.changes import UserChanged
from gomeet.config import Settings, load_settings
from gomeet.db import UnitOfWork, create_engine, make_sessionmaker, outbox_record_pending

users_app = typer.Typer(no_args_is_help=True)  # its help: `gomeet.cli.LAZY_GROUPS`


APPLY_WAIT_S = 3.0  # how long `promote` waits for a running server to apply the change


async def _promote(settings: Settings, email: str) -> tuple[uuid.UUID | None, bool]:
    """(user id or None, applied). The role and a `UserChanged` record commit together; the
    running servers apply the record from the outbox (invalidating the cached profile on
    every instance and in-process tier), so this command needs no Redis of its own. Waits a
    few seconds for that to happen."""
    engine = create_engine(settings.effective_database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            uow = UnitOfWork(session)
            user = await UserRepository(session).get_by_email(email)
            if user is None:
                return None, False
            user.role = Role.ADMIN.value
            user_id = user.id
            uow.record(UserChanged(user_id))
            record = await uow.commit()
        assert record is not None
        deadline = time.monotonic() + APPLY_WAIT_S
        while time.monotonic() < deadline:
            async with sessionmaker() as session:
                if not await outbox_record_pending(session, record):
                    return user_id, True
            await asyncio.sleep(0.05)
        return user_id, False
    finally:
        await engine.dispose()


@users_app.command()
def promote(email: Annotated[str, typer.Argument(help="the user's e-mail address")]) -> None:
    """Give an existing user the admin role."""
    settings = load_settings()
    try:
        normalised = normalise_email(email)
    except ValueError as exc:
        typer.echo(f"Not a valid e-mail address: {exc}", err=True)
        raise typer.Exit(1) from None
    user_id, applied = asyncio.run(_promote(settings, normalised))
    if user_id is None:
        typer.echo(f"No user with e-mail {normalised}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"{normalised} is now an admin.")
    if applied:
        typer.echo("Applied: the running servers see the new role now.")
    else:
        typer.echo(
            "No running server has applied the change yet (none is running, or none "
            "reaches Redis): the first one that does applies it from the outbox."
        )
