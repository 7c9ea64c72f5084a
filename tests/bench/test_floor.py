"""The api-floor scenario's bare app does the work it stands for, on a real Redis: the
token, one MGET, the revocation check and the host-or-participant check, the envelope."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
from bench.floor import create_floor_app
from bench.servers import BenchRedis
from redis.asyncio import Redis

from gomeet.auth.security import TokenType, create_token
from gomeet.config import Settings

SECRET = "floor-test-secret-" + "x" * 40
HOST, MEMBER, STRANGER = (uuid.uuid4() for _ in range(3))
MEETING = uuid.uuid4()


@pytest.fixture(scope="module")
def bench_redis() -> Iterator[BenchRedis]:
    with BenchRedis() as redis:
        yield redis


def token(user: uuid.UUID, version: int = 0, kind: TokenType = TokenType.ACCESS) -> str:
    settings = Settings(_env_file=None, jwt_secret=SECRET)  # type: ignore[call-arg]
    return create_token(settings, user, kind, version)


@pytest.fixture
async def client(
    bench_redis: BenchRedis, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    redis = Redis.from_url(bench_redis.url)
    details = {
        "id": str(MEETING),
        "hostId": str(HOST),
        "participants": [{"userId": str(MEMBER), "name": "m"}],
    }
    await redis.set(f"meeting:details:{MEETING}", orjson.dumps(details))
    for user in (HOST, MEMBER, STRANGER):
        await redis.set(f"user:profile:{user}", orjson.dumps({"id": str(user), "tokenVersion": 1}))
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("REDIS_URL", bench_redis.url)
    transport = httpx.ASGITransport(app=create_floor_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://floor") as http:
        yield http
    await redis.flushdb()
    await redis.aclose()


async def get(
    client: httpx.AsyncClient, bearer: str, meeting: uuid.UUID = MEETING
) -> httpx.Response:
    return await client.get(
        f"/api/v1/meetings/{meeting}", headers={"Authorization": f"Bearer {bearer}"}
    )


async def test_host_and_participant_get_the_cached_meeting_in_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    for user in (HOST, MEMBER):
        response = await get(client, token(user, version=1))

        assert response.status_code == 200
        body = response.json()
        assert body["success"] is True
        assert body["data"]["id"] == str(MEETING)


async def test_others_revoked_and_forged_tokens_are_refused(client: httpx.AsyncClient) -> None:
    assert (await get(client, token(STRANGER, version=1))).status_code == 403
    assert (await get(client, token(HOST, version=0))).status_code == 401  # revoked
    assert (await get(client, token(HOST, version=1) + "x")).status_code == 401
    assert (await get(client, token(HOST, version=1), uuid.uuid4())).status_code == 404
