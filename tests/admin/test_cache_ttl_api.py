"""`/api/v1/admin/cache/stats` analytics fields and `/admin/cache/ttl/{family}`: applying
and reverting a family's TTL advice, administrators only, bounds enforced."""

from __future__ import annotations

import httpx
import pytest
from admin_helpers import ADMIN_CACHE, build_world, data_of, error_of, make_admin

from helpers import API, bearer, register_user

FAMILY_FIELDS = ("hits", "misses", "hitRatio", "loads", "loadP50Ms", "loadP99Ms",
                 "invalidatedBeforeExpiry", "expiredWhileHot", "neverRead")  # fmt: skip


async def test_stats_carry_the_analytics_the_contract_names(client: httpx.AsyncClient) -> None:
    _, admin = await make_admin(client)
    world = await build_world(client)
    for _ in range(3):
        data_of(await client.get(f"{API}/meetings/{world.meeting_id}", headers=world.host_auth))
    stats = data_of(await client.get(f"{ADMIN_CACHE}/stats", headers=admin))
    details = stats["families"]["meeting_details"]
    for field in FAMILY_FIELDS:
        assert field in details, field
    for field in ("hitRatio", "invalidatedBeforeExpiry", "expiredWhileHot", "neverRead"):
        assert 0 <= details[field] <= 1
    assert details["loads"] >= 1 and details["loadP50Ms"] > 0
    assert details["loadP99Ms"] >= details["loadP50Ms"]
    assert isinstance(stats["hotKeys"], list)
    for entry in stats["hotKeys"]:
        assert set(entry) >= {"key", "reads"}
    advice = stats["ttlAdvice"]["meeting_details"]
    assert advice["currentSeconds"] == 900
    assert {"recommendedSeconds", "reason"} <= set(advice)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_only_admins_change_ttls(client: httpx.AsyncClient, method: str) -> None:
    path = f"{ADMIN_CACHE}/ttl/meeting_details"
    assert error_of(await client.request(method, path), 401)["code"] == "UNAUTHORIZED"
    _, access, _ = await register_user(client)
    assert error_of(await client.request(method, path, headers=bearer(access)), 403)


async def test_apply_and_revert_a_family_ttl(client: httpx.AsyncClient) -> None:
    _, admin = await make_admin(client)
    cache = client.app.state.cache  # type: ignore[attr-defined]
    path = f"{ADMIN_CACHE}/ttl/feature_flag"

    applied = data_of(await client.post(path, json={"seconds": 600}, headers=admin))
    assert (applied["before"], applied["after"], applied["action"]) == (300, 600, "apply")
    assert cache.engine.fill.ttl_ms["feature_flag"] == 600_000
    stats = data_of(await client.get(f"{ADMIN_CACHE}/stats", headers=admin))
    assert stats["ttlAdvice"]["feature_flag"]["applied"]["seconds"] == 600
    assert stats["ttlAdvice"]["feature_flag"]["currentSeconds"] == 600

    # The advice itself (too few observations here: it keeps the current TTL).
    kept = data_of(await client.post(path, headers=admin))
    assert kept["after"] == 600 and "too few observations" in kept["reason"]

    reverted = data_of(await client.delete(path, headers=admin))
    assert (reverted["after"], reverted["action"]) == (300, "revert")
    assert cache.engine.fill.ttl_ms["feature_flag"] == 300_000


async def test_bad_families_and_ttls_get_clear_errors(client: httpx.AsyncClient) -> None:
    _, admin = await make_admin(client)
    unknown = await client.post(f"{ADMIN_CACHE}/ttl/nope", headers=admin)
    assert error_of(unknown, 400)["code"] == "INVALID_CACHE_FAMILY"
    out = await client.post(f"{ADMIN_CACHE}/ttl/feature_flag", json={"seconds": 5}, headers=admin)
    error = error_of(out, 400)
    assert error["code"] == "TTL_OUT_OF_BOUNDS"
    assert error["details"] == {"family": "feature_flag", "min": 75, "max": 1200}
    negative = await client.post(
        f"{ADMIN_CACHE}/ttl/feature_flag", json={"seconds": -1}, headers=admin
    )
    assert error_of(negative, 400)["code"] == "VALIDATION_ERROR"
