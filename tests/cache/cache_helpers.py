"""Helpers for the cache tests: a counting loader, settings, polling."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from gomeet.cache import CacheRepository
from gomeet.config import Settings

MakeCache = Callable[..., Awaitable[CacheRepository]]


class Loader:
    """An async loader that counts its calls; `gate` (if set) holds it until released."""

    def __init__(self, value: Any = None, delay: float = 0.0) -> None:
        self.value = value
        self.delay = delay
        self.calls = 0
        self.started = asyncio.Event()
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> Any:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.value


def cache_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"environment": "test", "redis_url": url}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> bool:
    """Poll `check` until it is true (liveness with a generous bound, not a timing test)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return await check()


async def l1_live(cache: CacheRepository) -> bool:
    return bool((await cache.health_check())["l1"]["live"])
