"""`python -m bench.server --port P`: the API exactly as `gomeet serve` runs it, plus
`GET /__bench/counters` for the harness: SQL statements executed, connections checked out,
and the process's cache counters, read in-process so that a window's deltas are exact.

Only the benchmark starts this; the production app has no such route.
"""

from __future__ import annotations

import argparse
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from gomeet.app import create_app


def _cache_counters(registry: CollectorRegistry | None) -> dict[str, float]:
    """Sums of `gomeet_cache_requests_total` by result and of `gomeet_cache_loads_total`."""
    totals: dict[str, float] = {}
    if registry is None:
        return totals
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == "gomeet_cache_requests_total":
                result = sample.labels.get("result", "?")
                totals[result] = totals.get(result, 0.0) + sample.value
            elif sample.name == "gomeet_cache_loads_total":
                totals["loads"] = totals.get("loads", 0.0) + sample.value
    return totals


def create_counted_app() -> FastAPI:
    counters = {"statements": 0, "checkouts": 0}

    def on_statement(*_: Any) -> None:
        counters["statements"] += 1

    def on_checkout(*_: Any) -> None:
        counters["checkouts"] += 1

    event.listen(Engine, "before_cursor_execute", on_statement)
    event.listen(Pool, "checkout", on_checkout)
    app = create_app()

    @app.get("/__bench/counters", include_in_schema=False)
    async def bench_counters(request: Request) -> dict[str, Any]:
        registry = getattr(request.app.state, "metrics_registry", None)
        return {**counters, "cache": _cache_counters(registry)}

    return app


def serve(factory: str, description: str | None = __doc__) -> None:
    """`--host H --port P`: serve the app `factory` ("module:function") as this harness does."""
    import uvicorn

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    # One by default: the load generator needs the other core.
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # The same options as `gomeet serve`.
    uvicorn.run(
        factory,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        server_header=False,
    )


def main() -> None:
    serve("bench.server:create_counted_app")


if __name__ == "__main__":
    main()
