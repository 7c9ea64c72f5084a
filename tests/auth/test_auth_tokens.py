"""Token types, refresh rotation and reuse detection, revocation by logout, expiry."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from gomeet.auth.models import RefreshToken
from gomeet.auth.security import TokenType, create_token, decode_token
from gomeet.config import Settings
from gomeet.db import utcnow
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


async def rotated_seconds_ago(client: httpx.AsyncClient, token: str, seconds: float) -> None:
    """Move the recorded rotation of refresh `token` into the past (no sleeping in tests)."""
    jti = uuid.UUID(jwt.decode(token, options={"verify_signature": False})["jti"])
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        row = await session.get(RefreshToken, jti)
        assert row is not None
        assert row.used_at is not None
        row.used_at = utcnow() - timedelta(seconds=seconds)
        await session.commit()


async def assert_sessions_alive(client: httpx.AsyncClient, *sessions: dict[str, Any]) -> None:
    """Every session's access token still works, and its refresh token still rotates."""
    for data in sessions:
        assert (await _me(client, data["accessToken"])).status_code == 200
        assert (await _refresh(client, data["refreshToken"])).status_code == 200


async def assert_sessions_revoked(client: httpx.AsyncClient, *sessions: dict[str, Any]) -> None:
    for data in sessions:
        _assert_401(await _me(client, data["accessToken"]), "AUTH_005")
        _assert_401(await _refresh(client, data["refreshToken"]), "AUTH_005")


async def test_reusing_a_rotated_token_within_30_s_is_refused_and_revokes_nothing(
    client: httpx.AsyncClient,
) -> None:
    """Two tabs racing, or a client that keeps the old token (CONTRACT §3)."""
    data = await register(client)
    rotated = (await _refresh(client, data["refreshToken"])).json()["data"]
    other_session = await login(client, data["user"]["email"])
    for _ in range(3):
        reuse = await _refresh(client, data["refreshToken"])
        _assert_401(reuse, "REFRESH_TOKEN_ROTATED")
        assert "accessToken" not in reuse.text
    await rotated_seconds_ago(client, data["refreshToken"], 29)
    _assert_401(await _refresh(client, data["refreshToken"]), "REFRESH_TOKEN_ROTATED")
    await assert_sessions_alive(client, rotated, other_session)


async def test_reusing_a_rotated_token_after_30_s_revokes_every_session(
    client: httpx.AsyncClient,
) -> None:
    data = await register(client)
    rotated = (await _refresh(client, data["refreshToken"])).json()["data"]
    other_session = await login(client, data["user"]["email"])
    assert (await _me(client, rotated["accessToken"])).status_code == 200  # a cached profile
    await rotated_seconds_ago(client, data["refreshToken"], 31)

    reuse = await _refresh(client, data["refreshToken"])
    _assert_401(reuse, "AUTH_005")
    # The revocation was committed although the request failed.
    await assert_sessions_revoked(client, rotated, other_session)
    # Logging in again works.
    fresh = await login(client, data["user"]["email"])
    assert (await _me(client, fresh["accessToken"])).status_code == 200


@pytest.mark.parametrize(("leeway", "revoked"), [(0, True), (120, False)])
async def test_the_reuse_leeway_is_a_setting(
    app_client: Callable[..., Any], leeway: int, revoked: bool
) -> None:
    async with app_client(jwt_refresh_reuse_leeway=leeway) as client:
        data = await register(client)
        rotated = (await _refresh(client, data["refreshToken"])).json()["data"]
        await rotated_seconds_ago(client, data["refreshToken"], 60)
        reuse = await _refresh(client, data["refreshToken"])
        _assert_401(reuse, "AUTH_005" if revoked else "REFRESH_TOKEN_ROTATED")
        if revoked:
            await assert_sessions_revoked(client, rotated)
        else:
            await assert_sessions_alive(client, rotated)


async def test_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(
    client: httpx.AsyncClient,
) -> None:
    data = await register(client)
    responses = await asyncio.gather(*(_refresh(client, data["refreshToken"]) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 401]
    winner = next(r for r in responses if r.status_code == 200).json()["data"]
    loser = next(r for r in responses if r.status_code == 401)
    assert loser.json()["error"]["code"] == "REFRESH_TOKEN_ROTATED"
    await assert_sessions_alive(client, winner)  # nothing was revoked


async def test_many_concurrent_refreshes_with_one_token_make_one_pair_and_revoke_nothing(
    client: httpx.AsyncClient,
) -> None:
    data = await register(client)
    responses = await asyncio.gather(*(_refresh(client, data["refreshToken"]) for _ in range(8)))
    codes = sorted(
        r.json()["error"]["code"] if r.status_code == 401 else str(r.status_code) for r in responses
    )
    assert codes == ["200", *["REFRESH_TOKEN_ROTATED"] * 7]
    winner = next(r for r in responses if r.status_code == 200).json()["data"]
    await assert_sessions_alive(client, winner)


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


async def test_a_token_accepted_before_is_judged_anew_each_time(
    app_client: Callable[..., Any],
) -> None:
    """Decoding is remembered per token (issue 8), never its verdict past the token's life:
    an access token that worked expires on time, and it never passes as another type or
    with another secret."""
    async with app_client(jwt_access_token_expiry=5) as client:  # (whole seconds: ≥ 4 s)
        data = await register(client)
        token = data["accessToken"]
        expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
        assert (await _me(client, token)).status_code == 200
        assert (await _me(client, token)).status_code == 200
        settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
        with pytest.raises(Unauthorized) as wrong_type:
            decode_token(settings, token, TokenType.REFRESH)
        assert wrong_type.value.code == "AUTH_004"
        other = Settings(_env_file=None, jwt_secret="another-secret-" + "y" * 40)  # type: ignore[call-arg]
        with pytest.raises(Unauthorized):
            decode_token(other, token, TokenType.ACCESS)

        await asyncio.sleep(max(0.0, expires_at - time.time()) + 0.2)

        response = await _me(client, token)
        _assert_401(response, "AUTH_002")
        assert "expired" in response.json()["error"]["message"]
