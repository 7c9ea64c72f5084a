"""Cache administration: statistics, health, flushing a family, warming, TTL advice.

Authorization is the endpoints' `AdminUser` (and, for the CLI, access to the servers'
Redis and database); this module holds the rules: which families exist, what a flush
reports, what is logged for the audit trail.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from redis.exceptions import RedisError

from gomeet.admin.warm import CacheUnavailable, WarmLimits, warm_cache
from gomeet.cache import CacheRepository, Family
from gomeet.cache.tuning import TtlOutOfBounds
from gomeet.config import Settings
from gomeet.db import UnitOfWork
from gomeet.errors import ValidationFailed

log = structlog.get_logger("gomeet.admin")

FAMILIES = tuple(f.value for f in Family)


class InvalidCacheFamily(ValidationFailed):
    code = "INVALID_CACHE_FAMILY"
    message = "Unknown cache family"


class TtlOutsideBounds(ValidationFailed):
    code = "TTL_OUT_OF_BOUNDS"
    message = "The TTL is outside the family's bounds"


def parse_one_family(value: str) -> Family:
    family = parse_family(value)
    assert family is not None
    return family


def parse_family(value: str | None) -> Family | None:
    """A family name (None: every family). An empty or unknown name is refused, never
    read as "everything"."""
    if value is None:
        return None
    try:
        return Family(value)
    except ValueError:
        raise InvalidCacheFamily(
            f"Unknown cache family {value!r}; valid families: {', '.join(FAMILIES)}",
            details={"family": value, "validFamilies": list(FAMILIES)},
        ) from None


class CacheAdminService:
    def __init__(self, cache: CacheRepository) -> None:
        self.cache = cache

    async def stats(self) -> dict[str, Any]:
        return await self.cache.get_cache_stats()

    async def health(self) -> dict[str, Any]:
        return await self.cache.health_check()

    async def flush(self, family: Family | None, by: uuid.UUID | str) -> dict[str, Any]:
        """Delete every key of one family (or of all; `cache:stats` is kept).

        With Redis unreachable nothing is deleted now (`applied: false`): the flush is kept
        and applied when Redis is back.
        """
        before = self.cache.pending_invalidations
        deleted = await self.cache.flush(family)
        after = self.cache.pending_invalidations
        deferred = after > before or (after > 0 and not self.cache.breaker.closed)
        report = {
            "family": family.value if family else None,
            "deleted": deleted,
            "applied": not deferred,
            "pendingInvalidations": after,
        }
        log.info("cache_flushed", **report, by=str(by))
        return report

    async def apply_ttl(
        self, family: Family, seconds: float | None, by: uuid.UUID | str
    ) -> dict[str, Any]:
        """Apply the family's TTL advice (or `seconds`) on every instance, logged."""
        if not self.cache.enabled:
            raise CacheUnavailable("The cache is off: there is no TTL to apply")
        try:
            record = await self.cache.apply_ttl(family, seconds, str(by))
        except TtlOutOfBounds as exc:
            low, high = exc.bounds
            raise TtlOutsideBounds(
                str(exc), details={"family": family.value, "min": low, "max": high}
            ) from None
        except (RedisError, OSError) as exc:
            raise CacheUnavailable("Redis is unreachable: the TTL was not changed") from exc
        return record  # logged by the cache (`tuning.py`), as the auto-tuner's decisions are

    async def revert_ttl(self, family: Family, by: uuid.UUID | str) -> dict[str, Any]:
        """Back to the configured TTL on every instance, logged."""
        if not self.cache.enabled:
            raise CacheUnavailable("The cache is off: there is no TTL to revert")
        try:
            record = await self.cache.revert_ttl(family, str(by))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable("Redis is unreachable: the TTL was not changed") from exc
        return record

    async def warm(
        self, uow: UnitOfWork, settings: Settings, limits: WarmLimits, by: uuid.UUID | str
    ) -> dict[str, Any]:
        report = await warm_cache(uow, self.cache, settings, limits)
        log.info("cache_warmed", keys=report["keys"], loaded=report["loaded"], by=str(by))
        return report
