"""Feature flags: the database is the source of truth, the cache a copy of single flags.

Caching: `GET /feature-flags/{flag}` reads through `feature_flag:{name}`. `/config` and
`/all` read every flag from the database in one query (a tiny table), so they can never
disagree with it; the per-flag keys also back the `/config` fallback. Writes go to the
database and record a `FlagChanged`; after the commit the key is invalidated (which voids
any fill that read the old row) and filled again through `get` (write-through, under a
lease: a value overtaken by a concurrent write is never stored), see `gomeet.consistency`.

With the database failing, `/config` serves each known flag from the cache if it holds
it, otherwise its default (KNOWN_FLAG_DEFAULTS), and logs a warning.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import structlog

from gomeet.cache import CacheRepository, keys
from gomeet.changes import FlagChanged
from gomeet.db import DATABASE_UNAVAILABLE_ERRORS, UnitOfWork
from gomeet.errors import NotFound, ValidationFailed
from gomeet.feature_flags.models import FLAG_NAME_PATTERN, KNOWN_FLAG_DEFAULTS
from gomeet.feature_flags.repository import FeatureFlagRepository
from gomeet.feature_flags.schemas import FeatureFlagOut, FlagSetRequest

log = structlog.get_logger("gomeet.feature_flags")

_NAME = re.compile(FLAG_NAME_PATTERN)
# Path segments of this router: a flag so named could not be read at GET /feature-flags/{flag}.
RESERVED_FLAG_NAMES = frozenset({"all", "config"})

JSON = dict[str, Any]


class InvalidFlagName(ValidationFailed):
    code = "INVALID_FLAG_NAME"
    message = "Flag names match ^[a-z][a-z0-9_]{0,63}$"


class FlagNotFound(NotFound):
    code = "FLAG_NOT_FOUND"
    message = "Feature flag not found"


class _DatabaseDown(Exception):
    """Raised by the fallback loader: the cache may answer, the database will not."""


def check_flag_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidFlagName()
    return name


def check_settable_name(name: str) -> str:
    if check_flag_name(name) in RESERVED_FLAG_NAMES:
        raise InvalidFlagName(f"'{name}' is reserved")
    return name


def _to_json(flag: object) -> JSON:
    """A flag row (or a row of its columns) as the API and the cache show it."""
    return FeatureFlagOut.model_validate(flag).to_json()


class FeatureFlagService:
    def __init__(self, *, uow: UnitOfWork, cache: CacheRepository) -> None:
        self.uow = uow
        self.cache = cache

    @cached_property
    def repo(self) -> FeatureFlagRepository:
        """Made on first use: the unit of work opens its session for the first query only."""
        return FeatureFlagRepository(self.uow.session)

    async def config(self) -> dict[str, bool]:
        """`{name: enabled}` for every flag, known flags missing from the database defaulted."""
        try:
            flags = await self.repo.all()
        except DATABASE_UNAVAILABLE_ERRORS as exc:
            log.warning("feature_flags_database_unavailable", error=repr(exc))
            await self.uow.rollback()
            return await self._fallback_config()
        return {**KNOWN_FLAG_DEFAULTS, **{flag.name: flag.enabled for flag in flags}}

    async def _fallback_config(self) -> dict[str, bool]:
        async def database_down() -> JSON | None:
            raise _DatabaseDown

        config: dict[str, bool] = {}
        for name, default in KNOWN_FLAG_DEFAULTS.items():
            try:
                cached = await self.cache.get_or_load(keys.feature_flag(name), database_down)
            except _DatabaseDown:
                cached = None
            config[name] = bool(cached["enabled"]) if cached else default
        return config

    async def all(self) -> dict[str, JSON]:
        return {flag.name: _to_json(flag) for flag in await self.repo.all()}

    async def get(self, name: str) -> JSON:
        check_flag_name(name)

        async def load() -> JSON | None:
            flag = await self.repo.get(name)
            return _to_json(flag) if flag else None

        value: JSON | None = await self.cache.get_or_load(keys.feature_flag(name), load)
        if value is None:
            raise FlagNotFound()
        return value

    async def _apply(self, item: FlagSetRequest, admin_id: uuid.UUID) -> JSON:
        check_settable_name(item.flag_name)
        if "description" in item.model_fields_set:
            flag = await self.repo.upsert(
                item.flag_name, item.enabled, admin_id, description=item.description
            )
        else:
            flag = await self.repo.upsert(item.flag_name, item.enabled, admin_id)
        return _to_json(flag)

    async def set(self, item: FlagSetRequest, admin_id: uuid.UUID) -> JSON:
        value = await self._apply(item, admin_id)
        self.uow.record(FlagChanged(item.flag_name))
        log.info("feature_flag_set", flag=item.flag_name, enabled=item.enabled, by=str(admin_id))
        return value

    async def batch_set(self, items: Sequence[FlagSetRequest], admin_id: uuid.UUID) -> JSON:
        """Valid items are applied in this one transaction; a bad name is that item's error."""
        results: list[JSON] = []
        written: dict[str, JSON] = {}
        for item in items:
            try:
                written[item.flag_name] = await self._apply(item, admin_id)
            except InvalidFlagName as exc:
                results.append({"flagName": item.flag_name, "success": False, "error": exc.message})
            else:
                results.append({"flagName": item.flag_name, "success": True})
        self.uow.record(*(FlagChanged(name) for name in written))
        log.info("feature_flags_batch_set", flags=sorted(written), by=str(admin_id))
        successes = sum(1 for r in results if r["success"])
        return {
            "successCount": successes,
            "errorCount": len(results) - successes,
            "results": results,
        }
