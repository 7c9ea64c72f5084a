"""The FastAPI application; every resource is made in the lifespan, none at import."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from gomeet.admin.warm import background_warm
from gomeet.api import api_router, root_router
from gomeet.cache import build_cache
from gomeet.config import Settings
from gomeet.db import create_engine, make_sessionmaker
from gomeet.embedded import EmbeddedRedis
from gomeet.errors import install_error_handlers
from gomeet.observability.logging import configure_logging
from gomeet.observability.metrics import CacheCollector, HttpMetrics, create_registry
from gomeet.observability.middleware import ObservabilityMiddleware
from gomeet.ratelimit import RateLimitMiddleware
from gomeet.redis_client import create_redis, redacted
from gomeet.responses import JsonResponse

log = structlog.get_logger("gomeet.app")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
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
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.redis = redis
        cache = build_cache(settings, redis)
        await cache.start()
        stack.push_async_callback(cache.aclose)  # before redis.aclose: flushes the stats
        app.state.cache = cache
        registry = getattr(app.state, "metrics_registry", None) or create_registry()
        app.state.metrics_registry = registry
        collector = CacheCollector(cache)
        registry.register(collector)
        stack.callback(registry.unregister, collector)
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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="GoMeet API",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=JsonResponse,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(root_router)
    app.include_router(api_router, prefix="/api/v1")
    app.add_middleware(RateLimitMiddleware, settings=settings)  # runs inside the request id
    app.state.metrics_registry = create_registry()  # the lifespan adds the cache's collector
    http_metrics = HttpMetrics()
    app.state.metrics_registry.register(http_metrics)
    # Outermost: request id, access log and HTTP metrics for every request, 429s included.
    app.add_middleware(ObservabilityMiddleware, metrics=http_metrics)
    return app
