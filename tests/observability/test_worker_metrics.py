"""How the workers' figures add up into one scrape (`observability/workers.py`)."""

from __future__ import annotations

from typing import Any

from gomeet.observability.workers import merge


def family(name: str, kind: str, *samples: tuple[str, dict[str, str], float]) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "help": name,
        "unit": "",
        "samples": [list(s) for s in samples],
    }


def values(metrics: list[Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in metrics for s in m.samples}


def worker(requests: float, memory: float, started: float, circuit: float) -> list[dict[str, Any]]:
    return [
        family("gomeet_http_requests", "counter",
               ("gomeet_http_requests_total", {"route": "/x"}, requests)),
        family("process_resident_memory_bytes", "gauge",
               ("process_resident_memory_bytes", {}, memory)),
        family("process_start_time_seconds", "gauge", ("process_start_time_seconds", {}, started)),
        family("gomeet_cache_circuit_open", "gauge", ("gomeet_cache_circuit_open", {}, circuit)),
        family("gomeet_cache_operation_seconds", "histogram",
               ("gomeet_cache_operation_seconds_bucket", {"op": "get", "le": "+Inf"}, requests),
               ("gomeet_cache_operation_seconds_count", {"op": "get"}, requests)),
    ]  # fmt: skip


def test_counters_and_histograms_add_up_over_live_and_gone_workers() -> None:
    merged = values(merge([worker(3, 100, 50, 0), worker(4, 200, 40, 1)], [worker(5, 999, 1, 1)]))
    assert merged["gomeet_http_requests_total", (("route", "/x"),)] == 12
    assert merged["gomeet_cache_operation_seconds_count", (("op", "get"),)] == 12
    assert merged["gomeet_cache_operation_seconds_bucket", (("le", "+Inf"), ("op", "get"))] == 12


def test_gauges_count_live_workers_only_each_by_its_own_rule() -> None:
    merged = values(merge([worker(3, 100, 50, 0), worker(4, 200, 40, 1)], [worker(5, 999, 1, 0)]))
    assert merged["process_resident_memory_bytes", ()] == 300  # the gone worker's is not
    assert merged["process_start_time_seconds", ()] == 40  # the earliest live start
    assert merged["gomeet_cache_circuit_open", ()] == 1  # open while any breaker is
    assert values(merge([worker(1, 1, 1, 0)] * 2, []))["gomeet_cache_circuit_open", ()] == 0
