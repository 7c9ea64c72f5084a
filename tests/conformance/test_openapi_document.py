"""The OpenAPI document itself: every operation names its success body and the error
envelope of each status it can answer; 400, never 422. And documenting a body costs the
cached read path nothing: a cached value is sent as cached, not re-validated by a model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis

from gomeet.ratelimit import EXEMPT_PATHS
from helpers import API, bearer, register_user

ERROR_BODIES = {"#/components/schemas/ErrorEnvelope", "#/components/schemas/HealthDownOut"}


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


async def test_every_operation_documents_its_statuses_and_bodies(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert len(operations(schema)) >= 40
    for method, path, operation in operations(schema):
        where = f"{method} {path}"
        responses = operation["responses"]
        assert "422" not in responses, where
        successes = [s for s in responses if s.startswith("2")]
        assert successes, where
        for status in successes:
            content = responses[status]["content"]
            media, body = next(iter(content.items()))
            if path == "/metrics":
                assert media == "text/plain", where
            else:
                assert body["schema"]["$ref"].split("/")[-1].startswith("Envelope"), where
        for status, response in responses.items():
            if status[0] in "45":
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref in ERROR_BODIES, (where, status)
        assert "500" in responses, where
        assert ("429" in responses) is (path not in EXEMPT_PATHS), where
        if operation.get("parameters") or operation.get("requestBody"):
            assert "400" in responses, where
        if operation.get("security"):
            assert "401" in responses, where
    assert "HTTPValidationError" not in schema["components"]["schemas"]


async def test_routes_document_the_errors_of_their_rules(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    meeting = paths["/api/v1/meetings/{meeting_id}"]
    assert {"400", "401", "403", "404"} <= set(meeting["get"]["responses"])
    codes = meeting["get"]["responses"]["400"]["content"]["application/json"]["examples"]
    assert {"VALIDATION_ERROR", "INVALID_MEETING_ID"} <= set(codes)
    assert "409" in paths["/api/v1/auth/register"]["post"]["responses"]
    assert "403" in paths["/api/v1/admin/cache/stats"]["get"]["responses"]
    assert "403" not in paths["/api/v1/meetings"]["get"]["responses"]
    assert "503" in paths["/api/v1/meetings"]["get"]["responses"]  # the database
    retry = paths["/api/v1/meetings"]["get"]["responses"]["429"]["headers"]
    assert "Retry-After" in retry


async def test_a_cached_read_is_sent_as_cached_not_revalidated(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    """The documented `MeetingOut` would drop an unknown field; the response keeps it."""
    _, access, _ = await register_user(client)
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    created = await client.post(
        f"{API}/meetings", json={"name": "Retro", "startTime": start}, headers=bearer(access)
    )
    meeting_id = created.json()["data"]["id"]
    assert (await client.get(f"{API}/meetings/{meeting_id}", headers=bearer(access))).is_success
    key = f"meeting:details:{uuid.UUID(meeting_id)}"
    cached = orjson.loads(await clean_redis.get(key))
    ttl = await clean_redis.pttl(key)
    await clean_redis.set(key, orjson.dumps({**cached, "servedAsCached": True}), px=ttl)

    response = await client.get(f"{API}/meetings/{meeting_id}", headers=bearer(access))

    assert response.json()["data"]["servedAsCached"] is True
