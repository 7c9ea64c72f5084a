"""CORS for the web client on its own origin (CONTRACT §2): preflights are answered before
the rate limiter and the database; allowed origins can read every response, errors included;
a foreign origin gets no `Access-Control-*` header at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from gomeet.config import Settings
from helpers import API, bearer, register_user

ALLOWED = "http://localhost:5173"  # the web client's dev server, allowed by default
FOREIGN = "http://evil.example"
DEAD_DATABASE = "postgresql+asyncpg://gomeet:hunter2@127.0.0.1:1/gomeet"
EXPOSED = {"x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}


def preflight_headers(
    origin: str, method: str = "POST", headers: str = "authorization,content-type"
) -> dict[str, str]:
    """What a browser sends before a cross-origin call with a JSON body and a bearer token."""
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def comma_set(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",")}


def assert_readable_by(response: httpx.Response, origin: str) -> None:
    """A browser on `origin` may read the response and the headers the client needs."""
    assert response.headers["access-control-allow-origin"] == origin
    assert "origin" in comma_set(response.headers["vary"])
    exposed = comma_set(response.headers["access-control-expose-headers"])
    assert {*EXPOSED, "retry-after"} <= exposed


def assert_preflight_allowed(response: httpx.Response, origin: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin
    methods = comma_set(response.headers["access-control-allow-methods"])
    assert {"get", "post", "put", "patch", "delete", "options"} <= methods
    allowed = comma_set(response.headers["access-control-allow-headers"])
    assert {"authorization", "content-type", "x-request-id"} <= allowed
    assert int(response.headers["access-control-max-age"]) > 0
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "path",
    [f"{API}/meetings", f"{API}/auth/login", f"{API}/meetings/not-a-uuid", f"{API}/nope"],
)
async def test_a_preflight_from_an_allowed_origin_is_answered(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.options(path, headers=preflight_headers(ALLOWED))
    assert_preflight_allowed(response, ALLOWED)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_every_method_the_client_uses_passes_the_preflight(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.options(
        f"{API}/meetings/00000000-0000-0000-0000-000000000000",
        headers=preflight_headers(ALLOWED, method, "Authorization, Content-Type, X-Request-ID"),
    )
    assert_preflight_allowed(response, ALLOWED)


async def test_a_preflight_spends_no_rate_limit_token(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    """Before the fix, `OPTIONS /auth/login` spent one of the 5 per-minute auth tokens."""
    settings = {"rate_limit_enabled": True, "rate_limit_auth_requests": 2}
    async with app_client(**settings) as client:
        for _ in range(5):
            response = await client.options(f"{API}/auth/login", headers=preflight_headers(ALLOWED))
            assert_preflight_allowed(response, ALLOWED)
            assert "x-ratelimit-limit" not in response.headers
        assert await clean_redis.keys("ratelimit:*") == []
        login = await client.post(
            f"{API}/auth/login",
            json={"email": "nobody@example.com", "password": "x"},
            headers={"Origin": ALLOWED},
        )
        assert login.status_code == 401
        assert login.headers["x-ratelimit-limit"] == "2"
        assert login.headers["x-ratelimit-remaining"] == "1"
        assert_readable_by(login, ALLOWED)


async def test_a_preflight_from_a_foreign_origin_spends_no_token_either(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    async with app_client(rate_limit_enabled=True) as client:
        response = await client.options(f"{API}/auth/login", headers=preflight_headers(FOREIGN))
        assert response.status_code == 403
    assert await clean_redis.keys("ratelimit:*") == []


async def test_a_preflight_needs_neither_the_database_nor_redis(
    app_client: Callable[..., Any],
) -> None:
    async with app_client(
        database_url=DEAD_DATABASE, redis_url="redis://127.0.0.1:1/0", rate_limit_enabled=True
    ) as client:
        for path in (f"{API}/meetings", f"{API}/auth/me", f"{API}/public-users"):
            response = await client.options(path, headers=preflight_headers(ALLOWED))
            assert_preflight_allowed(response, ALLOWED)
        # The same app cannot serve the request itself: the database is unreachable.
        body = {"name": "Guest", "sessionId": "s-1"}
        real = await client.post(f"{API}/public-users", json=body, headers={"Origin": ALLOWED})
        assert real.status_code == 503
        assert_readable_by(real, ALLOWED)


async def test_a_simple_request_from_an_allowed_origin_is_readable(
    client: httpx.AsyncClient,
) -> None:
    _, token, _ = await register_user(client)
    response = await client.get(
        f"{API}/auth/me", headers={"Origin": ALLOWED, **bearer(token), "X-Request-ID": "r-1"}
    )
    assert response.status_code == 200
    assert_readable_by(response, ALLOWED)
    assert response.headers["x-request-id"] == "r-1"
    assert "access-control-allow-credentials" not in response.headers  # bearer, no cookies


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"{API}/auth/me", 401),
        ("GET", f"{API}/nope", 404),
        ("GET", f"{API}/meetings/00000000-0000-0000-0000-000000000000/public", 404),
        ("DELETE", f"{API}/auth/login", 405),
        ("POST", f"{API}/public-users", 400),
    ],
)
async def test_errors_are_readable_by_an_allowed_origin(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path, headers={"Origin": ALLOWED}, json={})
    assert response.status_code == status
    assert response.json()["success"] is False
    assert_readable_by(response, ALLOWED)


async def test_a_429_is_readable_with_its_retry_after(app_client: Callable[..., Any]) -> None:
    async with app_client(rate_limit_enabled=True, rate_limit_general_requests=1) as client:
        headers = {"Origin": ALLOWED}
        assert (await client.get(f"{API}/nope", headers=headers)).status_code == 404
        refused = await client.get(f"{API}/nope", headers=headers)
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    assert_readable_by(refused, ALLOWED)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", f"{API}/auth/me", 401), ("GET", f"{API}/nope", 404), ("GET", "/api/health", 200)],
)
async def test_a_foreign_origin_gets_no_cors_header(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path, headers={"Origin": FOREIGN})
    assert response.status_code == status
    assert cors_headers(response) == {}
    assert "origin" in comma_set(response.headers["vary"])  # shared caches keep them apart


@pytest.mark.parametrize(
    "origin",
    [FOREIGN, "null", "http://localhost:5174", "https://localhost:5173", ALLOWED + ".evil.example"],
)
async def test_a_preflight_from_a_foreign_origin_is_refused_without_cors_headers(
    client: httpx.AsyncClient, origin: str
) -> None:
    response = await client.options(f"{API}/meetings", headers=preflight_headers(origin))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert cors_headers(response) == {}
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "headers"),
    [("TRACE", "content-type"), ("POST", "authorization,x-custom-header")],
    ids=["method", "header"],
)
async def test_a_preflight_asking_for_more_than_the_api_allows_is_refused(
    client: httpx.AsyncClient, method: str, headers: str
) -> None:
    response = await client.options(
        f"{API}/meetings", headers=preflight_headers(ALLOWED, method, headers)
    )
    assert response.status_code == 403
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "FORBIDDEN"
    assert cors_headers(response) == {}


async def test_requests_without_an_origin_are_untouched(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/nope")
    assert response.status_code == 404
    assert cors_headers(response) == {}
    # Without an Origin, OPTIONS is not a preflight: the API answers it as any other method.
    options = await client.options(f"{API}/auth/login")
    assert options.status_code == 405
    assert options.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_cors_origins_replaces_the_development_default(
    app_client: Callable[..., Any],
) -> None:
    configured = "https://meet.example.com, https://app.example.com/"
    async with app_client(cors_origins=configured) as client:
        for origin in ("https://meet.example.com", "https://app.example.com"):
            response = await client.options(f"{API}/meetings", headers=preflight_headers(origin))
            assert_preflight_allowed(response, origin)
        dev = await client.get(f"{API}/nope", headers={"Origin": ALLOWED})
        assert cors_headers(dev) == {}


def test_development_allows_the_client_dev_server_and_production_nothing() -> None:
    development = Settings(_env_file=None, environment="development")  # type: ignore[call-arg]
    assert development.allowed_origins == ["http://localhost:5173", "http://127.0.0.1:5173"]
    production = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        jwt_secret="p" * 48,
        database_url="postgresql+asyncpg://db.internal/gomeet",
        redis_url="redis://cache.internal:6379/0",
    )
    assert production.allowed_origins == []
