"""The FastAPI application; every resource is made in the lifespan, none at import."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import structlog
from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gomeet.admin.warm import background_warm
from gomeet.api import include_routes
from gomeet.api_docs import install_docs
from gomeet.cache import build_cache
from gomeet.config import Settings
from gomeet.consistency import Outbox
from gomeet.cors import CorsMiddleware
from gomeet.db import create_engine, make_sessionmaker
from gomeet.embedded import EmbeddedRedis, die_with_parent
from gomeet.errors import install_error_handlers
from gomeet.observability.logging import configure_logging
from gomeet.observability.metrics import CacheCollector, HttpMetrics, create_registry
from gomeet.observability.middleware import ObservabilityMiddleware
from gomeet.observability.workers import WorkerMetrics
from gomeet.openapi import install_openapi
from gomeet.ratelimit import EXEMPT_PATHS, RateLimitMiddleware
from gomeet.redis_client import create_redis, redacted
from gomeet.redis_sentinel import FollowingSentinelPool
from gomeet.responses import JsonResponse
from gomeet.signaling import open_hub
from gomeet.signaling.deletions import close_deleted_meetings

log = structlog.get_logger("gomeet.app")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    supervisor = multiprocessing.parent_process()
    if supervisor is not None and supervisor.pid:  # a worker of `serve --workers N`
        die_with_parent(supervisor.pid)  # no orphan serving the port if `serve` is killed
    async with contextlib.AsyncExitStack() as stack:
        engine = create_engine(settings.effective_database_url, settings.database_pool_size)
        stack.push_async_callback(engine.dispose)
        redis_url = None
        if not settings.redis_configured:
            embedded = stack.enter_context(EmbeddedRedis())
            redis_url = embedded.url
        redis = create_redis(settings, redis_url)
        stack.push_async_callback(redis.aclose)
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker = make_sessionmaker(engine)
        app.state.redis = redis
        cache = build_cache(settings, redis)
        outbox = Outbox(sessionmaker, cache)  # the drain runs with the cache's background
        await cache.start()
        stack.push_async_callback(cache.aclose)  # before redis.aclose: flushes the stats
        stack.push_async_callback(outbox.aclose)  # before the cache closes
        if not cache.enabled:  # nothing here drains: keep the outbox from growing
            await stack.enter_async_context(
                _background(outbox.prune_forever(cache.options.longest_life))
            )
            if isinstance(redis.connection_pool, FollowingSentinelPool):  # the rate limiter's
                await stack.enter_async_context(_background(redis.connection_pool.follow()))
        app.state.cache = cache
        app.state.outbox = outbox
        registry = getattr(app.state, "metrics_registry", None) or create_registry()
        app.state.metrics_registry = registry
        collector = CacheCollector(cache)
        registry.register(collector)
        stack.callback(registry.unregister, collector)
        if settings.gomeet_metrics_dir:  # `serve`: one scrape sums every worker
            app.state.worker_metrics = WorkerMetrics(settings.gomeet_metrics_dir, registry)
            await app.state.worker_metrics.start()
            stack.push_async_callback(app.state.worker_metrics.aclose)
        # Closed first (LIFO): its last departures still reach Redis and the database.
        app.state.signaling = hub = await stack.enter_async_context(
            open_hub(app.state, settings, redis, registry)
        )
        outbox.observers.append(close_deleted_meetings(hub))
        if settings.cache_warm_on_start:
            await stack.enter_async_context(
                background_warm(app.state.sessionmaker, cache, settings)
            )
        log.info(
            "startup",
            database=redacted(settings.effective_database_url),
            redis=redacted(redis_url) if redis_url else "configured",
            cache=settings.gomeet_cache,
        )
        yield
        log.info("shutdown")


@contextlib.asynccontextmanager
async def _background(coro: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `coro` while the block runs; at the end cancel it and wait until it has stopped,
    so that nothing it was doing (a query on the engine) outlives the resources it uses
    (the engine is disposed next: a query cancelled mid-way on SQLite and left to clean up
    afterwards waited forever on the closed connection's thread)."""
    task = asyncio.get_running_loop().create_task(coro)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="GoMeet API",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=JsonResponse,
        docs_url=None,  # served by install_docs: no CDN, no external font
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    include_routes(app)
    install_docs(app)  # after the API's routes: a request tries those first
    install_openapi(app, unlimited=EXEMPT_PATHS)
    app.add_middleware(RateLimitMiddleware, settings=settings)  # runs inside the request id
    # Outside the limiter: a preflight spends no token and reaches no route or database.
    app.add_middleware(CorsMiddleware, origins=settings.allowed_origins)
    app.state.metrics_registry = create_registry()  # the lifespan adds the cache's collector
    http_metrics = HttpMetrics()
    app.state.metrics_registry.register(http_metrics)
    # Request id, access log and HTTP metrics for every request, 429s included.
    app.add_middleware(ObservabilityMiddleware, metrics=http_metrics)
    # Outermost: the client address (logs, rate limits) from X-Forwarded-For, when the peer
    # is one of FORWARDED_ALLOW_IPS (`serve` turns uvicorn's own handling off).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    return app
