"""`gomeet serve --workers 2`: every scrape of /metrics reports the whole server (CONTRACT
§5), the standard process and Python collectors included, and a worker killed and restarted
by the supervisor takes none of the counts with it."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from serve_helpers import Server

from helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.e2e

PUBLIC_ROUTE = "/api/v1/meetings/{meeting_id}/public"
REQUESTS = 24
PROFILE_READS = 6


def scrape(server: Server) -> list[Sample]:
    response = httpx.get(f"{server.base_url}/metrics", timeout=10)  # a new connection each
    assert response.status_code == 200
    return [s for f in text_string_to_metric_families(response.text) for s in f.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def public_reads(server: Server, count: int) -> None:
    for _ in range(count):  # one connection per request, so that both workers serve some
        url = f"{server.base_url}/api/v1/meetings/{uuid.uuid4()}/public"
        assert httpx.get(url, timeout=10).status_code == 404


def test_every_scrape_sums_every_worker_and_survives_a_restart(
    start_server: Callable[..., Server],
) -> None:
    server = start_server(2)
    public_reads(server, REQUESTS)
    with httpx.Client(base_url=f"{server.base_url}/api/v1", timeout=10) as client:
        registered = client.post(
            "/auth/register",
            json={"username": "metrics_user", "email": "metrics@example.com",
                  "password": DEFAULT_PASSWORD},
        )  # fmt: skip
        token = registered.json()["data"]["accessToken"]
    for _ in range(PROFILE_READS):
        me = httpx.get(f"{server.base_url}/api/v1/auth/me",
                       headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
        assert me.status_code == 200

    for _ in range(6):
        samples = scrape(server)
        assert value(samples, "gomeet_metrics_workers") == 2
        http = value(samples, "gomeet_http_requests_total", route=PUBLIC_ROUTE, status="404")
        assert http == REQUESTS
        reads = value(samples, "gomeet_cache_requests_total", family="user_profile")
        assert reads == PROFILE_READS
        assert value(samples, "process_resident_memory_bytes") > 0
        assert value(samples, "process_cpu_seconds_total") > 0
        assert any(s.name == "python_info" and s.value == 1 for s in samples)
        assert value(samples, "python_gc_collections_total") > 0

    # Kill a worker once its figures are on disk (written every second); the supervisor
    # starts another: the counts stay, and new requests add to them.
    before = server.workers()
    assert len(before) == 2, before
    time.sleep(1.5)
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while not (len(now := server.workers()) == 2 and before[0] not in now):
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)
    deadline = time.monotonic() + 60
    while value(scrape(server), "gomeet_metrics_workers") < 2:  # the new one is starting
        assert time.monotonic() < deadline, "the new worker never answered"
        time.sleep(0.2)
    public_reads(server, 4)
    for _ in range(4):
        samples = scrape(server)
        assert value(samples, "gomeet_metrics_workers") == 2
        http = value(samples, "gomeet_http_requests_total", route=PUBLIC_ROUTE, status="404")
        assert http == REQUESTS + 4
        reads = value(samples, "gomeet_cache_requests_total", family="user_profile")
        assert reads == PROFILE_READS
