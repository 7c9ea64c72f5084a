"""`gomeet users ...`: operator commands on users."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer

from gomeet.auth.models import Role
from gomeet.auth.repository import UserRepository
from gomeet.auth.schemas import normalise_email
from gomeet.cache import keys, open_cache
from gomeet.config import Settings
from gomeet.db import create_engine, make_sessionmaker

users_app = typer.Typer(help="Manage users.", no_args_is_help=True)


async def _promote(settings: Settings, email: str) -> uuid.UUID | None:
    engine = create_engine(settings.effective_database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            user = await UserRepository(session).get_by_email(email)
            if user is None:
                return None
            user.role = Role.ADMIN.value
            return user.id
    finally:
        await engine.dispose()


async def _invalidate_profile(settings: Settings, user_id: uuid.UUID) -> str:
    """Drop the cached profile so that running servers see the new role at once: through the
    cache layer, so that their in-process tiers are told too (pub/sub), not only Redis."""
    ttl = settings.cache_ttl_user_profile
    if not settings.redis_configured:
        return (
            "No Redis configured (a server's embedded Redis is private to it): a running "
            f"server sees the new role within {ttl} s (the profile cache TTL) or on restart."
        )
    async with open_cache(settings) as cache:
        if not cache.enabled:
            return "The cache is off (GOMEET_CACHE=off): no cached profile to invalidate."
        await cache.invalidate(keys.user_profile(user_id))
        delivered = cache.pending_invalidations == 0  # kept for replay: Redis unreachable
    if not delivered:  # the TTL bounds the staleness
        return (
            "Redis unreachable: the cached profile was not invalidated; running servers "
            f"see the new role within {ttl} s (the profile cache TTL)."
        )
    return "Cached profile invalidated."


@users_app.command()
def promote(email: Annotated[str, typer.Argument(help="the user's e-mail address")]) -> None:
    """Give an existing user the admin role."""
    settings = Settings()
    try:
        normalised = normalise_email(email)
    except ValueError as exc:
        typer.echo(f"Not a valid e-mail address: {exc}", err=True)
        raise typer.Exit(1) from None
    user_id = asyncio.run(_promote(settings, normalised))
    if user_id is None:
        typer.echo(f"No user with e-mail {normalised}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"{normalised} is now an admin.")
    typer.echo(asyncio.run(_invalidate_profile(settings, user_id)))
