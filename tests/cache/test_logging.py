"""One structured log record per cache operation (logger `gomeet.cache`).

Guarantees: `event` names the operation, with `key`, `hit`, `duration` (ms, a number),
`msg`; info level for normal flow, misses included; warning with `error` when Redis fails;
session IDs in `public_user:` keys never appear in clear.
"""

from __future__ import annotations

import uuid

import pytest
from cache_helpers import Loader, MakeCache
from structlog.testing import capture_logs

from gomeet.cache import keys

pytestmark = pytest.mark.usefixtures("info_logs")


async def test_a_miss_and_a_hit_each_log_their_operations(make_cache: MakeCache) -> None:
    key = keys.meeting_details(uuid.uuid4())
    with capture_logs() as logs:
        cache = await make_cache()
        await cache.get_or_load(key, Loader({"v": 1}))
        await cache.get_or_load(key, Loader({"v": 1}))
        await cache.invalidate(key)

    ops = [r for r in logs if r.get("key") == key.key]
    assert [(r["event"], r["hit"]) for r in ops] == [
        ("get", False),
        ("set", False),
        ("get", True),
        ("delete", True),
    ]
    for record in ops:
        assert record["log_level"] == "info"
        assert record["msg"] == "Cache operation completed"
        assert isinstance(record["duration"], float) and record["duration"] >= 0
        assert "error" not in record


async def test_errors_are_warnings_with_the_error(make_cache: MakeCache) -> None:
    key = keys.user_profile(uuid.uuid4())
    with capture_logs() as logs:
        cache = await make_cache("redis://127.0.0.1:1/0")
        assert await cache.get_or_load(key, Loader({"v": 1})) == {"v": 1}

    failed = [r for r in logs if r.get("event") == "get" and r.get("key") == key.key]
    assert failed
    assert failed[0]["log_level"] == "warning"
    assert failed[0]["hit"] is False
    assert "Error" in failed[0]["error"]
    assert isinstance(failed[0]["duration"], float)


async def test_session_ids_are_masked(make_cache: MakeCache) -> None:
    session = "s3cret-session-id-0123456789"
    with capture_logs() as logs:
        cache = await make_cache()
        await cache.get_or_load(keys.public_user(session), Loader({"name": "guest"}))
        await cache.get_or_load(keys.public_user(session), Loader({"name": "guest"}))
        await cache.invalidate_public_user(session)

    records = [r for r in logs if str(r.get("key", "")).startswith("public_user:")]
    assert len(records) == 4
    assert all(session not in repr(r) and "0123456789" not in repr(r) for r in logs)
