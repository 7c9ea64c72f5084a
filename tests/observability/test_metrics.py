"""GET /metrics: Prometheus text with the cache and HTTP metrics of CONTRACT §5."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from helpers import API, bearer, register_user, scrape, value

MEETING_ROUTE = "/api/v1/meetings/{meeting_id}"


async def test_cache_and_http_metrics_after_real_traffic(client: httpx.AsyncClient) -> None:
    _, access, _ = await register_user(client)
    auth = bearer(access)
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    created = await client.post(
        f"{API}/meetings", json={"name": "Retro", "startTime": start}, headers=auth
    )
    meeting = f"{API}/meetings/{created.json()['data']['id']}"
    for _ in range(2):
        assert (await client.get(meeting, headers=auth)).status_code == 200
    assert (await client.get("/no/such/path")).status_code == 404

    samples = await scrape(client)

    requests = "gomeet_cache_requests_total"
    reads = sum(
        value(samples, requests, family="meeting_details", result=r)
        for r in ("hit", "miss", "error")
    )
    assert reads == 2
    assert value(samples, requests, family="meeting_details", result="hit") >= 1
    assert value(samples, "gomeet_cache_loads_total", family="meeting_details") <= 1
    assert value(samples, "gomeet_cache_loads_total", family="user_profile") >= 1
    assert value(samples, "gomeet_cache_operation_seconds_count", op="get") >= 2
    assert any(
        s.name == "gomeet_cache_operation_seconds_bucket" and s.labels["le"] == "+Inf"
        for s in samples
    )

    http = "gomeet_http_requests_total"
    assert value(samples, http, method="GET", route=MEETING_ROUTE, status="200") == 2
    assert value(samples, http, method="POST", route="/api/v1/meetings", status="201") == 1
    assert value(samples, http, method="GET", route="unmatched", status="404") == 1
    seconds = "gomeet_http_request_seconds_count"
    assert value(samples, seconds, method="GET", route=MEETING_ROUTE) == 2
    assert not any("/no/such/path" in str(s.labels) for s in samples)


async def test_http_labels_stay_bounded(client: httpx.AsyncClient) -> None:
    for meeting_id in ("4b4c1b0e-5f4e-4a57-9a0e-1f7b1d2c3e4f", "not-a-uuid", "x" * 50):
        await client.get(f"{API}/meetings/{meeting_id}")
    await client.request("BREW", "/api/health")

    samples = await scrape(client)

    http = [s for s in samples if s.name == "gomeet_http_requests_total"]
    assert value(samples, "gomeet_http_requests_total", method="GET", route=MEETING_ROUTE,
                 status="401") == 3  # fmt: skip
    assert {s.labels["method"] for s in http} == {"GET", "OTHER"}
    assert all("not-a-uuid" not in s.labels["route"] for s in http)


async def test_metrics_are_never_rate_limited(
    app_client: Callable[..., Any],
) -> None:
    limits = {"rate_limit_enabled": True, "rate_limit_general_requests": 2}
    async with app_client(**limits) as client:
        statuses = [(await client.get(f"{API}/feature-flags/config")).status_code for _ in range(3)]
        for _ in range(5):
            response = await client.get("/metrics")
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers
        samples = await scrape(client)
    assert statuses == [401, 401, 429]
    http = "gomeet_http_requests_total"
    route = "/api/v1/feature-flags/config"
    assert value(samples, http, method="GET", route=route, status="401") == 2
    # The limiter answers before routing: its 429s carry the fixed label.
    assert value(samples, http, method="GET", route="unmatched", status="429") == 1


async def test_docs_schema_and_doc_assets_are_labelled_by_their_routes(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", "/openapi.json"):
        assert (await client.get(path)).status_code == 200
    for asset in ("swagger-ui.css", "redoc.standalone.js", "no-such-asset.js"):
        await client.get(f"/docs/assets/{asset}")

    samples = await scrape(client)

    http = "gomeet_http_requests_total"
    assert value(samples, http, method="GET", route="/docs", status="200") == 1
    assert value(samples, http, method="GET", route="/redoc", status="200") == 1
    assert value(samples, http, method="GET", route="/openapi.json", status="200") == 2
    assets = "/docs/assets/{path}"
    assert value(samples, http, method="GET", route=assets, status="200") == 2
    assert value(samples, http, method="GET", route=assets, status="404") == 1
    assert value(samples, http, method="GET", route="unmatched", status="200") == 0
    assert not any("-ui.css" in str(s.labels) or "asset.js" in str(s.labels) for s in samples)
