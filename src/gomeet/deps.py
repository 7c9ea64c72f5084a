"""Shared request dependencies, as `Annotated` aliases: resources live on `app.state`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from redis.asyncio import Redis
from starlette.datastructures import State

from gomeet.cache import CacheRepository
from gomeet.config import Settings
from gomeet.db import UnitOfWork
from gomeet.errors import AppError, ServiceUnavailable
from gomeet.openapi import raises


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@contextlib.asynccontextmanager
async def unit_of_work(state: State) -> AsyncIterator[UnitOfWork]:
    """One transaction on the app's database (`state` is `app.state`): committed when the
    block ends, rolled back when it raises, unless the error is an `AppError` with
    `commit_on_error`: then what was flushed before it is committed, and the error raised.
    The session is opened by the first query only: a block that runs none opens none.

    For work outside a request (WebSocket presence, background jobs); requests use
    `UnitOfWorkDep`, which is this around the endpoint (`UnitOfWorkRoute`).
    """
    uow = UnitOfWork(changes=state.outbox, sessionmaker=state.sessionmaker)
    try:
        try:
            yield uow
        except AppError as exc:
            await (uow.commit() if exc.commit_on_error else uow.rollback())
            raise
        except BaseException:
            await uow.rollback()
            raise
        await uow.commit()
    finally:
        await uow.close()


class UnitOfWorkRoute(APIRoute):
    """A route whose request runs in one unit of work (`unit_of_work`): committed after
    the endpoint returns and before the response is sent, rolled back if it raises. The
    routers of the domains use this class, and their endpoints get the unit of work with
    `UnitOfWorkDep`.

    This is what a `yield` dependency with `scope="function"` does, without FastAPI's
    machinery for one (an exit stack and a cancel scope per request, about a tenth of a
    cached read's time in a profile): the route's handler runs inside the block.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            async with unit_of_work(request.app.state) as uow:
                request.state.unit_of_work = uow
                return await handler(request)

        return handle


@raises(ServiceUnavailable("The database is unavailable, please retry"))
async def get_unit_of_work(request: Request) -> UnitOfWork:
    """The request's unit of work (its route must be a `UnitOfWorkRoute`)."""
    uow: UnitOfWork | None = getattr(request.state, "unit_of_work", None)
    if uow is None:
        raise RuntimeError(f"{request.url.path}: its route is not a UnitOfWorkRoute")
    return uow


async def get_cache(request: Request) -> CacheRepository:
    cache: CacheRepository = request.app.state.cache
    return cache


async def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


SettingsDep = Annotated[Settings, Depends(get_settings)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]
CacheDep = Annotated[CacheRepository, Depends(get_cache)]
RedisDep = Annotated[Redis, Depends(get_redis)]
