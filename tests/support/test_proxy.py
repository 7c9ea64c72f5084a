"""The fault-injecting TCP proxy itself, in front of the suite's real Redis and PostgreSQL.

Bounds here are the injected faults' own (a delay is at least what was injected; a black
hole makes a client time out), never the speed of the machine.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
import redis.exceptions
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from support.proxy import Mode, TcpProxy, Upstream

MakeProxy = Callable[..., TcpProxy]


def redis_client(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=0.3, socket_connect_timeout=0.3)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


@pytest.fixture
async def echo_socket() -> AsyncIterator[str]:
    """A unix-socket echo server: what comes in goes back, byte for byte."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    with tempfile.TemporaryDirectory(prefix="gomeet-echo-") as directory:
        path = os.path.join(directory, "echo.sock")
        server = await asyncio.start_unix_server(echo, path)
        yield path
        server.close()
        await server.wait_closed()


async def test_pass_through_reaches_redis_and_postgresql(
    tcp_proxy: MakeProxy, redis_url: str, postgresql_url: str
) -> None:
    redis_proxy = tcp_proxy(Upstream.of_redis_url(redis_url))
    pg_proxy = tcp_proxy(Upstream.of_database_url(postgresql_url))
    assert redis_proxy.mode is Mode.PASS

    client = redis_client(redis_proxy.redis_url(redis_url))
    await client.set("proxy:test", b"x" * 200_000)  # larger than one chunk
    assert await client.get("proxy:test") == b"x" * 200_000
    await client.delete("proxy:test")
    await client.aclose()

    url = pg_proxy.database_url(postgresql_url)
    assert make_url(url).host == "127.0.0.1"
    assert make_url(url).port == pg_proxy.port
    conn = await asyncpg.connect(asyncpg_dsn(url))
    assert await conn.fetchval("SELECT 41 + 1") == 42
    await conn.close()
    assert pg_proxy.stats.connections == 1
    assert pg_proxy.stats.bytes_up > 0 and pg_proxy.stats.bytes_down > 0


async def test_delay_is_added_to_each_chunk_and_order_is_kept_under_jitter(
    tcp_proxy: MakeProxy, redis_url: str, echo_socket: str
) -> None:
    redis_proxy = tcp_proxy(Upstream.of_redis_url(redis_url))
    client = Redis.from_url(redis_proxy.redis_url(redis_url), socket_timeout=5)
    await client.ping()  # connected before the delay
    redis_proxy.delay(100)
    started = time.monotonic()
    assert await client.ping()
    assert time.monotonic() - started >= 0.2  # one chunk each way, 100 ms each
    redis_proxy.passthrough()
    await client.aclose()

    echo = tcp_proxy(Upstream(unix_path=echo_socket), seed=7)
    echo.delay(10, 10)  # 0-20 ms per chunk: without ordering, chunks would overtake
    reader, writer = await asyncio.open_connection("127.0.0.1", echo.port)
    sent = [f"<{i}>".encode() for i in range(100)]
    for message in sent:
        writer.write(message)
        await writer.drain()
        await asyncio.sleep(0.002)  # separate chunks
    received = b""
    while len(received) < len(b"".join(sent)):
        received += await asyncio.wait_for(reader.read(65536), 10)
    assert received == b"".join(sent)
    writer.close()


async def test_black_hole_gives_timeouts_then_traffic_recovers(
    tcp_proxy: MakeProxy, redis_url: str, postgresql_url: str
) -> None:
    redis_proxy = tcp_proxy(Upstream.of_redis_url(redis_url))
    pg_proxy = tcp_proxy(Upstream.of_database_url(postgresql_url))
    url = redis_proxy.redis_url(redis_url)
    held = redis_client(url)
    await held.ping()
    conn = await asyncpg.connect(asyncpg_dsn(pg_proxy.database_url(postgresql_url)))

    redis_proxy.blackhole()
    pg_proxy.blackhole()
    with pytest.raises(redis.exceptions.TimeoutError):  # an open connection: no answer
        await held.ping()
    fresh = redis_client(url)
    with pytest.raises(redis.exceptions.TimeoutError):  # a new one: accepted, then silence
        await fresh.ping()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(conn.fetchval("SELECT 1"), 0.5)
    with pytest.raises(TimeoutError):
        await asyncpg.connect(asyncpg_dsn(pg_proxy.database_url(postgresql_url)), timeout=0.5)

    redis_proxy.passthrough()
    pg_proxy.passthrough()
    assert await fresh.ping()
    assert await held.ping()
    conn = await asyncpg.connect(asyncpg_dsn(pg_proxy.database_url(postgresql_url)))
    assert await conn.fetchval("SELECT 1") == 1
    await conn.close()
    await held.aclose()
    await fresh.aclose()


async def test_cut_resets_open_connections_and_refuses_new_ones_then_recovers(
    tcp_proxy: MakeProxy, redis_url: str
) -> None:
    redis_proxy = tcp_proxy(Upstream.of_redis_url(redis_url))
    url = redis_proxy.redis_url(redis_url)
    held = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    await held.ping()

    redis_proxy.cut()
    with pytest.raises(redis.exceptions.ConnectionError):
        await held.ping()
    fresh = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    with pytest.raises(redis.exceptions.ConnectionError):
        await fresh.ping()
    # (ConnectionError, not redis' TimeoutError, which is not a subclass of it)
    assert redis_proxy.stats.resets >= 2

    redis_proxy.passthrough()
    assert await fresh.ping()
    assert await held.ping()
    await held.aclose()
    await fresh.aclose()
