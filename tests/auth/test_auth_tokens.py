"""Token types, refresh rotation and reuse detection, revocation by logout, expiry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from gomeet.auth.security import TokenType, create_token, decode_token
from gomeet.config import Settings
from gomeet.errors import Unauthorized
from helpers import API, bearer, login, register


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"{API}/auth/me", headers=bearer(token))


async def _refresh(client: httpx.AsyncClient, token: Any) -> httpx.Response:
    return await client.post(f"{API}/auth/refresh", json={"refreshToken": token})


def _assert_401(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "UNAUTHORIZED"),
        ({"Authorization": "Bearer"}, "UNAUTHORIZED"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "UNAUTHORIZED"),
        ({"Authorization": "Bearer not.a.jwt"}, "AUTH_002"),
        ({"Authorization": "Bearer " + "x" * 5000}, "AUTH_002"),
    ],
    ids=["none", "empty-bearer", "basic", "malformed", "huge"],
)
async def test_me_without_a_valid_token_is_401(
    client: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    response = await client.get(f"{API}/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_signed_with_another_secret_is_401(client: httpx.AsyncClient) -> None:
    user = (await register(client))["user"]
    payload = {"sub": user["id"], "typ": "access", "ver": 0, "iat": 0, "exp": 2**40, "jti": "x"}
    forged = jwt.encode(payload, "another-secret-" + "y" * 40, algorithm="HS256")
    _assert_401(await _me(client, forged), "AUTH_002")


async def test_token_without_the_algorithm_is_401(client: httpx.AsyncClient) -> None:
    user = (await register(client))["user"]
    payload = {"sub": user["id"], "typ": "access", "ver": 0, "iat": 0, "exp": 2**40, "jti": "x"}
    unsigned = jwt.encode(payload, None, algorithm="none")
    _assert_401(await _me(client, unsigned), "AUTH_002")


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    data = await register(client)
    _assert_401(await _me(client, data["refreshToken"]), "AUTH_004")


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    data = await register(client)
    _assert_401(await _refresh(client, data["accessToken"]), "AUTH_004")


async def test_refresh_rotates_and_each_refresh_token_is_single_use(
    client: httpx.AsyncClient,
) -> None:
    data = await register(client)
    response = await _refresh(client, data["refreshToken"])
    assert response.status_code == 200
    pair = response.json()["data"]
    assert set(pair) == {"accessToken", "refreshToken"}
    assert pair["refreshToken"] != data["refreshToken"]
    assert (await _me(client, pair["accessToken"])).status_code == 200
    # The rotated token works once more.
    second = await _refresh(client, pair["refreshToken"])
    assert second.status_code == 200
    assert (await _me(client, second.json()["data"]["accessToken"])).status_code == 200


async def test_reusing_a_refresh_token_revokes_every_session(client: httpx.AsyncClient) -> None:
    data = await register(client)
    rotated = (await _refresh(client, data["refreshToken"])).json()["data"]
    other_session = await login(client, data["user"]["email"])
    assert (await _me(client, rotated["accessToken"])).status_code == 200  # a cached profile

    reuse = await _refresh(client, data["refreshToken"])
    _assert_401(reuse, "AUTH_005")
    # The revocation was committed although the request failed.
    for token in (rotated["accessToken"], other_session["accessToken"]):
        _assert_401(await _me(client, token), "AUTH_005")
    for token in (rotated["refreshToken"], other_session["refreshToken"]):
        _assert_401(await _refresh(client, token), "AUTH_005")
    # Logging in again works.
    fresh = await login(client, data["user"]["email"])
    assert (await _me(client, fresh["accessToken"])).status_code == 200


async def test_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(
    client: httpx.AsyncClient,
) -> None:
    data = await register(client)
    responses = await asyncio.gather(*(_refresh(client, data["refreshToken"]) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 401]


async def test_logout_revokes_every_earlier_token(client: httpx.AsyncClient) -> None:
    first = await register(client)
    second = await login(client, first["user"]["email"])
    response = await client.post(f"{API}/auth/logout", headers=bearer(first["accessToken"]))
    assert response.status_code == 200
    assert response.json()["success"] is True
    for data in (first, second):
        _assert_401(await _me(client, data["accessToken"]), "AUTH_005")
        _assert_401(await _refresh(client, data["refreshToken"]), "AUTH_005")
    _assert_401(
        await client.post(f"{API}/auth/logout", headers=bearer(first["accessToken"])), "AUTH_005"
    )
    again = await login(client, first["user"]["email"])
    assert (await _me(client, again["accessToken"])).status_code == 200


async def test_logout_requires_a_token(client: httpx.AsyncClient) -> None:
    _assert_401(await client.post(f"{API}/auth/logout"), "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("setting", "check"),
    [("jwt_access_token_expiry", "me"), ("jwt_refresh_token_expiry", "refresh")],
)
async def test_expired_tokens_are_401(
    app_client: Callable[..., Any], setting: str, check: str
) -> None:
    async with app_client(**{setting: -10}) as client:
        data = await register(client)
        if check == "me":
            response = await _me(client, data["accessToken"])
        else:
            response = await _refresh(client, data["refreshToken"])
        _assert_401(response, "AUTH_002")
        assert "expired" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"refreshToken": ""}, {"refreshToken": 5}, {"refreshToken": "x" * 5000}],
    ids=repr,
)
async def test_refresh_rejects_invalid_bodies(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post(f"{API}/auth/refresh", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_garbage_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    _assert_401(await _refresh(client, "not.a.jwt"), "AUTH_002")


async def test_refresh_token_for_an_unknown_user_is_401(client: httpx.AsyncClient) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    token = create_token(settings, uuid.uuid4(), TokenType.REFRESH, 0)
    _assert_401(await _refresh(client, token), "AUTH_002")


def test_decode_token_round_trip_and_type_check() -> None:
    settings = Settings(_env_file=None, jwt_secret="unit-" + "z" * 40)  # type: ignore[call-arg]
    user_id = uuid.uuid4()
    token = create_token(settings, user_id, TokenType.ACCESS, 7)
    claims = decode_token(settings, token, TokenType.ACCESS)
    assert (claims.user_id, claims.token_type, claims.token_version) == (
        user_id,
        TokenType.ACCESS,
        7,
    )
    with pytest.raises(Unauthorized) as exc:
        decode_token(settings, token, TokenType.REFRESH)
    assert exc.value.code == "AUTH_004"
