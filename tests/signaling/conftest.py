"""Fixtures for the signaling tests: the app served by a real uvicorn on a free port, in
the test's event loop (`live_server(**settings)`), with the same server options as
`gomeet serve`; the figures of the run are printed at its end."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from signaling_helpers import FIGURES, Endpoint

from cache_api.cache_api_helpers import free_port
from gomeet.app import create_app
from gomeet.config import Settings
from gomeet.embedded import EmbeddedRedis
from gomeet.signaling import Hub, uvicorn_options

# Short enough for the tests, never a wait the tests rely on.
FAST = {
    "ws_ping_interval": 0.5,
    "ws_ping_timeout": 1.0,
    "ws_instance_ttl": 2.0,
    "ws_rate_limit_grace": 1.0,
    "cors_origins": ["http://app.example"],
}


@dataclass
class LiveServer(Endpoint):
    app: FastAPI
    port: int
    settings: Settings

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.signaling
        return hub


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[LiveServer]:
    """uvicorn on a socket bound here (no port race), in this event loop."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, lifespan="on", **uvicorn_options(settings))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        yield LiveServer(app, port, settings)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)
        sock.close()


@pytest.fixture
async def live_server(
    make_settings: Callable[..., Settings], app_client: Any
) -> AsyncIterator[Callable[..., contextlib.AbstractAsyncContextManager[LiveServer]]]:
    """`async with live_server(**overrides) as server:` — the app behind a real uvicorn.
    (`app_client` is there for its set-up: empty tables and a flushed Redis.)"""

    def start(**overrides: Any) -> contextlib.AbstractAsyncContextManager[LiveServer]:
        return serve(make_settings(**{**FAST, **overrides}))

    yield start


@pytest.fixture
async def own_redis() -> AsyncIterator[EmbeddedRedis]:
    """A private redis-server on a TCP port, which a test may stop and start again."""
    server = EmbeddedRedis(port=free_port()).start()
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES.connections:
        terminalreporter.write_line(FIGURES.summary())
