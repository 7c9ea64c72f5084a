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

HTTP (`HttpMetrics`, fed by `ObservabilityMiddleware`), counted the same way:

- `gomeet_http_requests_total{method, route, status}`: `route` is the route template
  (`/api/v1/meetings/{meeting_id}`), `unmatched` when no route handled the request (an
  unknown path; a 429 of the rate limiter, which answers before routing); methods outside
  the standard ones are `OTHER`, so the label sets stay bounded.
- `gomeet_http_request_seconds{method, route}`: histogram of request duration.

Plus prometheus_client's standard process (`process_*`) and Python (`python_*`) collectors.
With `gomeet serve --workers N`, `workers.WorkerMetrics` sums every worker's figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gomeet.cache.stats import (
    DELETES,
    ERRORS,
    FALLBACKS,
    HITS,
    L1_HITS,
    LOADS,
    MISSES,
    SETS,
    Histogram,
)

if TYPE_CHECKING:
    from gomeet.cache import CacheRepository

CONTENT_TYPE = CONTENT_TYPE_LATEST


def create_registry() -> CollectorRegistry:
    """A registry with the standard process and Python collectors (CONTRACT §5)."""
    registry = CollectorRegistry(auto_describe=True)
    for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(standard)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (serve with `CONTENT_TYPE`)."""
    return generate_latest(registry)


class CacheCollector(Collector):
    def __init__(self, cache: CacheRepository) -> None:
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


UNMATCHED_ROUTE = "unmatched"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics(Collector):
    """Request counts and durations by method, route template and status."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in HTTP_METHODS:
            method = "OTHER"
        self.requests[method, route, str(status)] += 1
        histogram = self.seconds.get((method, route))
        if histogram is None:
            histogram = self.seconds[method, route] = Histogram()
        histogram.observe(seconds)

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "gomeet_http_requests",
            "HTTP requests by method, route and status.",
            labels=["method", "route", "status"],
        )
        for labels, count in sorted(self.requests.items()):
            requests.add_metric(list(labels), count)
        seconds = HistogramMetricFamily(
            "gomeet_http_request_seconds", "HTTP request duration.", labels=["method", "route"]
        )
        for (method, route), histogram in sorted(self.seconds.items()):
            seconds.add_metric([method, route], histogram.cumulative(), histogram.sum)
        yield from (requests, seconds)
