"""One structured log record per cache operation, as the spec's example shows it; session
IDs masked in `public_user` keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from cache_api_helpers import session_url

from helpers import API
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, new_user

FIELDS = {"event", "key", "hit", "duration", "level", "msg"}


def cache_records(out: str) -> list[dict[str, Any]]:
    """The JSON records on stdout that describe a cache operation (they carry a `key`)."""
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r for r in records if "key" in r and "msg" in r]


async def test_each_cache_operation_logs_the_spec_fields(
    app_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    async with app_client(log_level="INFO") as client:
        _, auth = await new_user(client)
        meeting = await create_meeting(client, auth, "Logged")
        key = f"meeting:details:{meeting['id']}"
        capsys.readouterr()
        for _ in range(2):  # a miss and its fill, then a hit
            data_of(await client.get(f"{MEETINGS}/{meeting['id']}", headers=auth))
        logged = [r for r in cache_records(capsys.readouterr().out) if r["key"] == key]

    assert [(r["event"], r["hit"]) for r in logged] == [
        ("get", False),
        ("set", False),
        ("get", True),
    ]
    for record in logged:
        assert set(record) >= FIELDS
        assert record["level"] == "info"  # a miss is normal flow, not an error
        assert record["msg"] == "Cache operation completed"
        assert isinstance(record["duration"], int | float) and record["duration"] >= 0
        assert "error" not in record


async def test_a_failed_operation_logs_its_error_as_a_warning(
    app_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    async with app_client(log_level="INFO", redis_url="redis://127.0.0.1:1/0") as client:
        user, auth = await new_user(client)
        capsys.readouterr()
        data_of(await client.get(f"{API}/auth/me", headers=auth))  # served by the database
        logged = cache_records(capsys.readouterr().out)

    (record,) = [r for r in logged if r["event"] == "get"]
    assert record["key"] == f"user:profile:{user['id']}"
    assert FIELDS | {"error"} <= set(record)
    assert record["hit"] is False
    assert record["level"] == "warning"
    assert record["msg"] == "Cache operation failed"
    assert record["error"]


async def test_session_ids_are_masked_in_the_keys_that_are_logged(
    app_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "S3cr3t:guest token*0123456789"
    async with app_client(log_level="INFO") as client:
        guest = {"name": "Guest", "sessionId": secret}
        data_of(await client.post(f"{API}/public-users", json=guest), 201)
        for _ in range(2):
            data_of(await client.get(session_url(secret)))
        data_of(await client.put(session_url(secret), json={"name": "Renamed"}))
        out = capsys.readouterr().out

    keys = {r["key"] for r in cache_records(out) if r["key"].startswith("public_user:")}
    assert keys == {"public_user:S3cr…"}
    for spelling in (secret, quote(secret, safe=""), quote(secret, safe="-._~!$&'()+,;=@")):
        assert spelling not in out
    assert secret[4:12] not in out
