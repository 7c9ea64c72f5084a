"""Applied TTLs: one decision in Redis that every instance follows, logged and reversible.

`{cache:analytics}:ttl` holds, per family that was changed, `{seconds, by, at, reason,
auto}` (`seconds` null: reverted to the configured TTL, and left alone by the auto-tuner
until an operator applies a TTL again). Every instance reads it in its upkeep loop (on the
analytics flush's round trip) and changes its fill path's TTL (`FillPath.set_ttl`): what
is stored from then on gets the new TTL, without a restart. Every decision is appended to
`{cache:analytics}:ttl:log` (the last 200) and logged.

With `CACHE_TTL_AUTO=on`, an instance whose turn it is (`SET NX` on `:ttl:lock`, once per
`ttl_auto_interval` across all instances) applies the advice (`advice.py`) of each family
that has enough observations under its current TTL and whose recommendation differs by at
least 10 %, within the family's bounds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from gomeet.cache.advice import Advice, bounds_for
from gomeet.cache.fill import FillPath
from gomeet.cache.insights import TTL_LOCK, TTL_LOG, TTLS
from gomeet.cache.meter import Meter
from gomeet.cache.options import CacheOptions
from gomeet.cache.stats import now_iso
from gomeet.cache.store import RedisStore

LOG_KEPT = 200
MIN_CHANGE = 0.1  # the auto-tuner ignores advice closer than this to the current TTL


class TtlOutOfBounds(ValueError):
    def __init__(self, family: str, seconds: float, bounds: tuple[float, float]) -> None:
        super().__init__(
            f"{seconds:g} s is outside the bounds of {family}: {bounds[0]:g}-{bounds[1]:g} s"
        )
        self.bounds = bounds


class Tuning:
    def __init__(
        self, store: RedisStore, fill: FillPath, options: CacheOptions, meter: Meter
    ) -> None:
        self.store = store
        self.fill = fill
        self.options = options
        self.meter = meter
        self.applied: dict[str, dict[str, Any]] = {}  # the last state read from Redis
        self._next_turn = time.monotonic() + options.ttl_auto_interval

    def configured(self, family: str) -> float:
        return float(self.options.ttls[family])

    def current(self, family: str) -> float:
        return self.fill.ttl_ms[family] / 1000

    def bounds(self, family: str) -> tuple[float, float]:
        return bounds_for(self.configured(family))

    def sync(self, raw: Mapping[bytes, bytes]) -> None:
        """Follow the applied TTLs read from Redis (every upkeep round)."""
        applied: dict[str, dict[str, Any]] = {}
        for field, value in raw.items():
            family = field.decode()
            if family in self.fill.ttl_ms:
                applied[family] = orjson.loads(value)
        self.applied = applied
        for family in self.fill.ttl_ms:
            entry = applied.get(family) or {}
            seconds = entry.get("seconds") or self.configured(family)
            before = self.current(family)
            if self.fill.set_ttl(family, float(seconds)):
                self.meter.log.event(
                    "cache_ttl_changed", family=family, before=before, after=float(seconds),
                    by=entry.get("by", "configuration"),
                )  # fmt: skip

    async def apply(
        self, family: str, seconds: float, by: str, reason: str, *, auto: bool = False
    ) -> dict[str, Any]:
        low, high = self.bounds(family)
        if not low <= seconds <= high:
            raise TtlOutOfBounds(family, seconds, (low, high))
        return await self._decide(family, float(seconds), by, reason, auto, "apply")

    async def revert(self, family: str, by: str) -> dict[str, Any]:
        """Back to the configured TTL; the auto-tuner leaves the family alone from now on."""
        return await self._decide(family, None, by, "reverted to the configured TTL", False,
                                  "revert")  # fmt: skip

    async def _decide(
        self, family: str, seconds: float | None, by: str, reason: str, auto: bool, action: str
    ) -> dict[str, Any]:
        before = self.current(family)
        after = seconds if seconds is not None else self.configured(family)
        entry = {"seconds": seconds, "by": by, "at": now_iso(), "reason": reason, "auto": auto}
        record = {**entry, "family": family, "action": action, "before": before,
                  "after": after}  # fmt: skip
        await self.store.hset_and_log(
            TTLS, family, orjson.dumps(entry), TTL_LOG, orjson.dumps(record), LOG_KEPT
        )
        self.applied[family] = entry
        self.fill.set_ttl(family, after)
        self.meter.log.event("cache_ttl_" + action, **record)
        return record

    async def maybe_decide(self, advices: Callable[[], Awaitable[dict[str, Advice]]]) -> int:
        """The auto-tuner's round, when it is due and this instance's turn: the number of
        families changed."""
        if not self.options.ttl_auto or time.monotonic() < self._next_turn:
            return 0
        self._next_turn = time.monotonic() + self.options.ttl_auto_interval
        hold = max(1, int(self.options.ttl_auto_interval * 900))
        async with self.store.slots:
            turn = await self.store.redis.set(TTL_LOCK, b"1", nx=True, px=hold)
        if not turn:
            return 0
        changed = 0
        for family, advice in (await advices()).items():
            entry = self.applied.get(family)
            if entry is not None and entry.get("seconds") is None:
                continue  # reverted by an operator: pinned
            if advice.rule not in ("raise", "lower"):
                continue
            if abs(advice.recommended - advice.current) < MIN_CHANGE * advice.current:
                continue
            await self.apply(family, advice.recommended, "auto", advice.reason, auto=True)
            changed += 1
        return changed
