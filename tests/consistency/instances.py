"""The instances a consistency check runs over: apps with the cache on (A, B…), and the
`GOMEET_CACHE=off` oracle on the same database."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from cache_api.cache_api_helpers import wait_until
from support.apps import l1_live

L1_TTL = 2.0  # the in-process tier's TTL in the checks (GOMEET_CACHE_L1_TTL)
# How long after a write's acknowledgement a read through an instance with the tier on may
# still show the old value: the invalidation message in flight (CONTRACT §4's window).
L1_WINDOW = 0.5
OpenClient = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


def settle_time(l1: bool, l1_ttl: float = L1_TTL) -> float:
    """From the last write to the quiescence reads: 1 s, plus the tier's TTL when it is on."""
    return 1.0 + (l1_ttl if l1 else 0.0)


@contextlib.asynccontextmanager
async def cluster(
    open_client: OpenClient,
    *,
    l1: bool,
    l1_ttl: float = L1_TTL,
    overrides: Sequence[dict[str, Any]] = ({}, {}),
    oracle_overrides: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[list[Instance], Instance]]:
    """Instances A, B… (one per `overrides`, e.g. each with its own Redis proxy) with the
    cache on, and the `GOMEET_CACHE=off` oracle, all started; with `l1`, once every tier
    is live."""
    tier = {"gomeet_cache_l1": l1, "gomeet_cache_l1_ttl": l1_ttl}
    async with contextlib.AsyncExitStack() as stack:
        instances = []
        for name, extra in zip("ABCDEFGH", overrides, strict=False):
            client = await stack.enter_async_context(open_client(**tier, **extra))
            instances.append(Instance(name, client, L1_WINDOW if l1 else 0.0))
        oracle = await stack.enter_async_context(
            open_client(gomeet_cache=False, **(oracle_overrides or {}))
        )
        if l1:
            for instance in instances:
                assert await wait_until(functools.partial(l1_live, instance.client), 1000)
        yield instances, Instance("oracle", oracle)


@dataclass(frozen=True)
class Instance:
    """An app behind a client; `grace`: the in-process tier's window for its reads."""

    name: str
    client: httpx.AsyncClient
    grace: float = 0.0
