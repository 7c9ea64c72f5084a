"""Prometheus metrics. One `CollectorRegistry` per app (tests build many apps).

The cache's figures are not updated through prometheus_client on the hot path: the cache
counts in plain lists, and `CacheCollector` turns them into metric families when
`/metrics` is scraped. Exposed:

- `gomeet_cache_requests_total{family, result}`: reads by result: hit, miss, error (served
  by the database because Redis failed or the breaker was open).
- `gomeet_cache_loads_total{family}`: times the loader (the database) was asked to fill a key.
- `gomeet_cache_operation_seconds{op}`: histogram of cache operation latency (get, set,
  delete, load, refresh, flush_stats, health_check).
- `gomeet_cache_events_total{family, kind}`: sets, deletes, errors, in-process-tier hits.
- `gomeet_cache_circuit_open`: 1 while the breaker is open.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gomeet.cache.stats import DELETES, ERRORS, FALLBACKS, HITS, L1_HITS, LOADS, MISSES, SETS

if TYPE_CHECKING:
    from gomeet.cache.core import CacheCore

CONTENT_TYPE = CONTENT_TYPE_LATEST


def create_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (serve with `CONTENT_TYPE`)."""
    return generate_latest(registry)


class CacheCollector(Collector):
    def __init__(self, cache: CacheCore) -> None:
        self._cache = cache

    def describe(self) -> Iterator[Metric]:
        return iter(())  # collected lazily; nothing to check for name clashes up front

    def collect(self) -> Iterator[Metric]:
        stats = self._cache.stats
        requests = CounterMetricFamily(
            "gomeet_cache_requests",
            "Cache reads by family and result.",
            labels=["family", "result"],
        )
        loads = CounterMetricFamily(
            "gomeet_cache_loads", "Times the database was asked to fill a key.", labels=["family"]
        )
        events = CounterMetricFamily(
            "gomeet_cache_events", "Cache sets, deletes, errors and in-process hits.",
            labels=["family", "kind"],
        )  # fmt: skip
        for family, counts in stats.counts.items():
            requests.add_metric([family, "hit"], counts[HITS])
            requests.add_metric([family, "miss"], counts[MISSES])
            requests.add_metric([family, "error"], counts[FALLBACKS])
            loads.add_metric([family], counts[LOADS])
            for kind, index in (("set", SETS), ("delete", DELETES), ("error", ERRORS),
                                ("l1_hit", L1_HITS)):  # fmt: skip
                events.add_metric([family, kind], counts[index])
        seconds = HistogramMetricFamily(
            "gomeet_cache_operation_seconds", "Cache operation latency.", labels=["op"]
        )
        for op, histogram in stats.ops.items():
            seconds.add_metric([op], histogram.cumulative(), histogram.sum)
        circuit = GaugeMetricFamily("gomeet_cache_circuit_open", "1 while the breaker is open.")
        circuit.add_metric([], 0 if self._cache.breaker.closed else 1)
        yield from (requests, loads, events, seconds, circuit)
