"""POST /auth/register and /auth/login: success, validation, e-mail case, races, equal work."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import argon2
import httpx
import pytest
from sqlalchemy import select

from gomeet.auth import security
from gomeet.auth.models import User
from gomeet.db import create_engine
from helpers import API, DEFAULT_PASSWORD, bearer, login, register

USER_FIELDS = {"id", "username", "email", "avatarUrl", "role", "createdAt"}


def _email() -> str:
    return f"u{uuid.uuid4().hex[:10]}@example.com"


async def test_register_returns_user_and_working_tokens(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{API}/auth/register",
        json={"username": "alice.w-1", "email": "Alice@Example.COM", "password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    user = body["data"]["user"]
    assert set(user) == USER_FIELDS
    assert user["username"] == "alice.w-1"
    assert user["email"] == "alice@example.com"
    assert user["role"] == "user"
    assert user["avatarUrl"] is None
    assert datetime.fromisoformat(user["createdAt"]).utcoffset() is not None
    me = await client.get(f"{API}/auth/me", headers=bearer(body["data"]["accessToken"]))
    assert me.status_code == 200
    assert me.json()["data"]["user"] == user


async def test_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    await register(client, username="foo_user", email="Foo@X.com")
    data = await login(client, "foo@x.com")
    assert data["user"]["email"] == "foo@x.com"
    duplicate = await client.post(
        f"{API}/auth/register",
        json={"username": "other", "email": "FOO@x.COM", "password": DEFAULT_PASSWORD},
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "AUTH_003"


async def test_concurrent_duplicate_registrations_create_one_user(
    client: httpx.AsyncClient,
) -> None:
    email = _email()

    async def attempt(i: int) -> httpx.Response:
        body = {"username": f"racer_{i}", "email": email, "password": DEFAULT_PASSWORD}
        return await client.post(f"{API}/auth/register", json=body)

    responses = await asyncio.gather(*(attempt(i) for i in range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"AUTH_003"}
    winner = next(r for r in responses if r.status_code == 201).json()["data"]["user"]
    assert (await login(client, email))["user"]["id"] == winner["id"]


def _register_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": "valid_name",
        "email": _email(),
        "password": DEFAULT_PASSWORD,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(
    "overrides",
    [
        {"username": ...},
        {"email": ...},
        {"password": ...},
        {"username": 123},
        {"password": 12345678901234},
        {"email": ["a@b.com"]},
        {"username": "ab"},
        {"username": "a" * 51},
        {"username": "has space"},
        {"username": "semi;colon"},
        {"username": "nul\x00name"},
        {"username": "new\nline"},
        {"email": "nul\x00@example.com"},
        {"email": "not-an-email"},
        {"email": "a@localhost"},
        {"email": "a" * 250 + "@x.com"},
        {"password": "Aa1-" + "x" * 125},
        {"password": ""},
    ],
    ids=repr,
)
async def test_register_rejects_invalid_fields(
    client: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    response = await client.post(f"{API}/auth/register", json=_register_body(**overrides))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_register_rejects_a_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{API}/auth/register", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("username", "password", "violation"),
    [
        ("someone", "Sh0rt-Pw!", "TOO_SHORT"),
        ("someone", "lowercase-only-9qz", "NO_UPPERCASE"),
        ("someone", "UPPERCASE-ONLY-9QZ", "NO_LOWERCASE"),
        ("someone", "No-Digits-Here-Xqz", "NO_DIGIT"),
        ("someone", "NoSpecials1234Xqz", "NO_SPECIAL"),
        ("someone", "Password123!", "TOO_COMMON"),
        ("johnsmith", "xQ7-SMI!tpzr9Kw", "CONTAINS_USERNAME"),
    ],
)
async def test_register_enforces_the_password_policy(
    client: httpx.AsyncClient, username: str, password: str, violation: str
) -> None:
    response = await client.post(
        f"{API}/auth/register", json=_register_body(username=username, password=password)
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "WEAK_PASSWORD"
    assert violation in {v["code"] for v in error["details"]["violations"]}


async def test_login_returns_user_and_tokens(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    email = registered["user"]["email"]
    response = await client.post(
        f"{API}/auth/login", json={"email": email.upper(), "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["user"] == registered["user"]
    me = await client.get(f"{API}/auth/me", headers=bearer(data["accessToken"]))
    assert me.json()["data"]["user"]["id"] == registered["user"]["id"]


@pytest.mark.parametrize("known_email", [True, False])
async def test_bad_credentials_are_401_auth_001_alike(
    client: httpx.AsyncClient, known_email: bool
) -> None:
    registered = await register(client)
    email = registered["user"]["email"] if known_email else _email()
    response = await client.post(
        f"{API}/auth/login", json={"email": email, "password": "Wr0ng-Password!x"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTH_001"
    assert response.json()["error"]["message"] == "Invalid e-mail or password"


async def test_unknown_email_does_the_same_hashing_work(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not timed: both paths verify exactly one hash, made with the same argon2 parameters."""
    registered = await register(client)
    verified: list[str] = []
    real_verify = security._verify

    def counting_verify(hasher: argon2.PasswordHasher, password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real_verify(hasher, password_hash, password)

    monkeypatch.setattr(security, "_verify", counting_verify)
    for email in (registered["user"]["email"], _email()):
        response = await client.post(
            f"{API}/auth/login", json={"email": email, "password": "Wr0ng-Password!x"}
        )
        assert response.status_code == 401
    assert len(verified) == 2
    known, unknown = (argon2.extract_parameters(h) for h in verified)
    assert known == unknown


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@example.com"},
        {"password": DEFAULT_PASSWORD},
        {"email": "not-an-email", "password": DEFAULT_PASSWORD},
        {"email": 5, "password": DEFAULT_PASSWORD},
        {"email": "a@example.com", "password": "x" * 129},
    ],
    ids=repr,
)
async def test_login_rejects_invalid_fields(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post(f"{API}/auth/login", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_login_upgrades_a_hash_made_with_older_cost_parameters(
    app_client: Callable[..., Any], database_url: str
) -> None:
    async with app_client(password_hash_time_cost=1) as client:
        registered = await register(client)
    async with app_client(password_hash_time_cost=2) as client:
        await login(client, registered["user"]["email"])
        await login(client, registered["user"]["email"])  # the upgraded hash verifies
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            stored = await conn.scalar(
                select(User.password_hash).where(User.id == uuid.UUID(registered["user"]["id"]))
            )
    finally:
        await engine.dispose()
    assert argon2.extract_parameters(stored).time_cost == 2
