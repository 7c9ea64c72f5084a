"""Real-time signaling: the WebSocket of CONTRACT §6, across processes through Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from starlette.datastructures import State

from gomeet.config import Settings
from gomeet.signaling.hub import Hub
from gomeet.signaling.metrics import SignalingCollector

__all__ = ["Hub", "open_hub", "uvicorn_options"]


@contextlib.asynccontextmanager
async def open_hub(
    state: State, settings: Settings, redis: Redis, registry: CollectorRegistry
) -> AsyncIterator[Hub]:
    """The process's hub, started, with its metrics; on exit its sockets are closed (1001)
    and their departures reported."""
    hub = Hub(state, settings, redis)
    collector = SignalingCollector(hub)
    registry.register(collector)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.aclose()
        registry.unregister(collector)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What the server must do for the socket: protocol pings (§6.7) and the frame size
    limit (§6.3: an oversize frame is closed with 1009 before it is read). The graceful
    shutdown is bounded by `serve --graceful-timeout` (sockets are closed with 1012
    first, so a client that never reads cannot hold the server up past it)."""
    return {
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": settings.ws_ping_interval,
        "ws_ping_timeout": settings.ws_ping_timeout,
    }
