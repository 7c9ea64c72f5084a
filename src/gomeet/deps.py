"""Shared request dependencies, as `Annotated` aliases: resources live on `app.state`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from gomeet.cache import CacheRepository
from gomeet.config import Settings
from gomeet.db import UnitOfWork
from gomeet.errors import AppError


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """Commits after the endpoint returns and before the response is sent (scope=function).

    An error rolls back, unless it is an `AppError` with `commit_on_error`: then what was
    flushed before it is committed, and the error is still answered.
    """
    async with request.app.state.sessionmaker() as session:
        uow = UnitOfWork(session)
        try:
            yield uow
        except AppError as exc:
            await (uow.commit() if exc.commit_on_error else uow.rollback())
            raise
        except BaseException:
            await uow.rollback()
            raise
        await uow.commit()


def get_cache(request: Request) -> CacheRepository:
    cache: CacheRepository = request.app.state.cache
    return cache


def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


SettingsDep = Annotated[Settings, Depends(get_settings)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]
CacheDep = Annotated[CacheRepository, Depends(get_cache)]
RedisDep = Annotated[Redis, Depends(get_redis)]
