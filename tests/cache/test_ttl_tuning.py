"""TTL advice and its application: the rules; one decision through Redis that every
instance follows without a restart; reverting; the auto-tuner leaves a reverted family."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from cache_helpers import Loader, MakeCache, eventually
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, CacheRepository, Family, keys
from gomeet.cache.advice import Life, advise, bounds_for
from gomeet.cache.analytics_scripts import LIFE_BOUNDS
from gomeet.cache.tuning import TtlOutOfBounds

# The grace (reads another instance has not flushed yet) spans several flushes, as in production.
AUTO = CacheOptions(life_sample=1, life_grace=1.0, flush_interval=0.2, ttl_auto_interval=0.3)


def ttl_of(cache: CacheRepository, family: str = "meeting_details") -> float:
    assert cache.engine is not None
    return cache.engine.fill.ttl_ms[family] / 1000


def test_the_rules_of_the_advice() -> None:
    bounds = bounds_for(900)
    assert bounds == (225, 3600)
    invalidated = advise(Life(ended=100, invalidated=97, expired=3, reads=400, fills=100), 900,
                         bounds, LIFE_BOUNDS)  # fmt: skip
    assert (invalidated.recommended, invalidated.rule) == (3600, "raise")
    assert invalidated.reason == (
        "invalidated before expiry 97 % of the time: the TTL can be raised to 1 h "
        "without serving anything staler"
    )
    hot = advise(Life(ended=100, expired_hot=40, expired=60, reads=900, fills=100), 300,
                 bounds_for(300), LIFE_BOUNDS)  # fmt: skip
    assert (hot.recommended, hot.rule) == (600, "raise")
    assert hot.reason == "expires while hot 40 % of the time: raise to 10 min"
    assert hot.expected_change == pytest.approx(40 * 0.5 / 1000)
    # 90 % never read; the entries read had their last read within 20 s of their fill.
    never = advise(Life(ended=100, expired=100, never_read=90, reads=10, fills=100,
                        read_age={LIFE_BOUNDS.index(20): 10}), 1800, bounds_for(1800),
                   LIFE_BOUNDS)  # fmt: skip
    assert (never.recommended, never.rule) == (450, "lower")  # the lower bound
    assert never.reason.startswith("90 % never read again: lower to 450 s")
    assert never.expected_change == 0.0
    few = advise(Life(ended=5, invalidated=5), 900, bounds, LIFE_BOUNDS)
    assert (few.recommended, few.rule) == (900, "wait")


async def churn(writer: CacheRepository, reader: CacheRepository, n: int) -> None:
    """Entries filled, read on another instance, then invalidated: 100 % invalidated."""
    for _ in range(n):
        key = keys.meeting_details(uuid.uuid4())
        await writer.get_or_load(key, Loader({"m": 1}))
        await reader.get_or_load(key, Loader({"m": 1}))
        await writer.invalidate(key)


async def test_auto_tuning_is_one_decision_every_instance_follows_and_can_be_reverted(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    a = await make_cache(options=AUTO, cache_ttl_meeting_details=60, cache_ttl_auto=True)
    b = await make_cache(options=AUTO, cache_ttl_meeting_details=60, cache_ttl_auto=True)
    await churn(a, b, 25)

    async def raised() -> bool:
        return ttl_of(a) == 240 and ttl_of(b) == 240  # the bound: 4 x the configured 60 s

    assert await eventually(raised, within=15)
    stats = await b.get_cache_stats()
    decisions = [d for d in stats["ttl"]["log"] if d["family"] == "meeting_details"]
    assert len(decisions) == 1  # two auto-tuners, one decision
    assert decisions[0]["auto"] is True and decisions[0]["by"] == "auto"
    assert decisions[0]["before"] == 60 and decisions[0]["after"] == 240
    assert stats["ttlAdvice"]["meeting_details"]["applied"]["seconds"] == 240
    assert stats["ttl"]["auto"] is True
    fresh = keys.meeting_details(uuid.uuid4())
    await b.get_or_load(fresh, Loader({"m": 2}))
    assert await clean_redis.pttl(fresh.key) > 200_000  # stored with the new TTL

    await a.revert_ttl(Family.MEETING_DETAILS, "ops")

    async def reverted() -> bool:
        return ttl_of(a) == 60 and ttl_of(b) == 60

    assert await eventually(reverted, within=15)
    await churn(a, b, 5)
    await asyncio.sleep(1.0)  # several auto-tuning rounds: a reverted family is left alone
    assert ttl_of(a) == 60 and ttl_of(b) == 60
    log = (await a.get_cache_stats())["ttl"]["log"]
    assert [d["action"] for d in log if d["family"] == "meeting_details"] == ["revert", "apply"]


async def test_an_operator_applies_a_ttl_within_bounds_on_every_instance(
    make_cache: MakeCache,
) -> None:
    options = CacheOptions(flush_interval=0.2)
    a, b = await make_cache(options=options), await make_cache(options=options)
    with pytest.raises(TtlOutOfBounds):
        await a.apply_ttl(Family.FEATURE_FLAG, 5, "ops")  # bounds 75-1200 s
    record = await a.apply_ttl(Family.FEATURE_FLAG, 600, "ops")
    assert (record["before"], record["after"], record["by"]) == (300, 600, "ops")

    async def followed() -> bool:
        return ttl_of(b, "feature_flag") == 600

    assert await eventually(followed)
    assert ttl_of(a, "user_profile") == 1800  # other families keep theirs
