"""GET /auth/me, PUT /auth/update-profile, PUT /auth/update-password, check-password-strength."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from helpers import API, DEFAULT_PASSWORD, bearer, login, register

NEW_PASSWORD = "N3w-Str0ng-Pass!y"


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"{API}/auth/me", headers=bearer(token))


async def _update_profile(client: httpx.AsyncClient, token: str, body: Any) -> httpx.Response:
    return await client.put(f"{API}/auth/update-profile", json=body, headers=bearer(token))


async def _update_password(client: httpx.AsyncClient, token: str, body: Any) -> httpx.Response:
    return await client.put(f"{API}/auth/update-password", json=body, headers=bearer(token))


async def test_me_never_shows_secrets(client: httpx.AsyncClient) -> None:
    data = await register(client)
    response = await _me(client, data["accessToken"])
    assert response.status_code == 200
    user = response.json()["data"]["user"]
    assert set(user) == {"id", "username", "email", "avatarUrl", "role", "createdAt"}
    assert DEFAULT_PASSWORD not in response.text
    assert "argon2" not in response.text


async def test_update_profile_changes_what_me_shows(client: httpx.AsyncClient) -> None:
    data = await register(client)
    token = data["accessToken"]
    assert (await _me(client, token)).status_code == 200  # a cached profile, if any
    body = {"username": "renamed.user", "avatarUrl": "https://cdn.example.com/a.png?s=64"}
    response = await _update_profile(client, token, body)
    assert response.status_code == 200
    user = response.json()["data"]["user"]
    assert user["username"] == "renamed.user"
    assert user["avatarUrl"] == "https://cdn.example.com/a.png?s=64"
    assert user["email"] == data["user"]["email"]
    assert (await _me(client, token)).json()["data"]["user"] == user
    # Absent fields are left alone; null removes the avatar.
    cleared = await _update_profile(client, token, {"avatarUrl": None})
    assert cleared.json()["data"]["user"]["avatarUrl"] is None
    assert cleared.json()["data"]["user"]["username"] == "renamed.user"
    assert (await _me(client, token)).json()["data"]["user"]["avatarUrl"] is None


async def test_update_email_then_log_in_with_it(client: httpx.AsyncClient) -> None:
    data = await register(client)
    response = await _update_profile(client, data["accessToken"], {"email": "New.Mail@Example.com"})
    assert response.status_code == 200
    assert response.json()["data"]["user"]["email"] == "new.mail@example.com"
    assert (await login(client, "NEW.MAIL@example.com"))["user"]["id"] == data["user"]["id"]
    old = await client.post(
        f"{API}/auth/login", json={"email": data["user"]["email"], "password": DEFAULT_PASSWORD}
    )
    assert old.status_code == 401


async def test_update_to_a_taken_email_is_409(client: httpx.AsyncClient) -> None:
    taken = await register(client)
    data = await register(client)
    response = await _update_profile(
        client, data["accessToken"], {"email": taken["user"]["email"].upper()}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "AUTH_003"
    # Keeping one's own e-mail is not a conflict.
    same = await _update_profile(client, data["accessToken"], {"email": data["user"]["email"]})
    assert same.status_code == 200


async def test_profile_change_reaches_the_meetings_that_embed_the_user(
    client: httpx.AsyncClient,
) -> None:
    data = await register(client)
    token = data["accessToken"]
    created = await client.post(
        f"{API}/meetings",
        json={"name": "Standup", "startTime": "2030-01-01T09:00:00+00:00"},
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    meeting_id = created.json()["data"]["id"]
    url = f"{API}/meetings/{meeting_id}"
    assert (await client.get(url, headers=bearer(token))).status_code == 200  # fill the cache
    body = {"username": "host.renamed", "avatarUrl": "https://example.com/h.png"}
    assert (await _update_profile(client, token, body)).status_code == 200
    host = (await client.get(url, headers=bearer(token))).json()["data"]["host"]
    assert host["username"] == "host.renamed"
    assert host["avatarUrl"] == "https://example.com/h.png"

    guest = await register(client)
    joined = await client.post(f"{url}/join", headers=bearer(guest["accessToken"]))
    assert joined.status_code == 200, joined.text
    participants_url = f"{url}/participants"
    assert (await client.get(participants_url, headers=bearer(token))).status_code == 200
    renamed = {"username": "guest.renamed"}
    assert (await _update_profile(client, guest["accessToken"], renamed)).status_code == 200
    participants = (await client.get(participants_url, headers=bearer(token))).json()["data"]
    mine = [p for p in participants if p["userId"] == guest["user"]["id"]]
    assert [p["name"] for p in mine] == ["guest.renamed"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": None},
        {"email": None},
        {"username": "x"},
        {"username": "n" * 51},
        {"username": "bad name"},
        {"username": 42},
        {"email": "nope"},
        {"email": "e" * 250 + "@x.com"},
        {"avatarUrl": "ftp://example.com/a.png"},
        {"avatarUrl": "javascript:alert(1)"},
        {"avatarUrl": "not a url"},
        {"avatarUrl": "https://x.com:notaport/"},
        {"avatarUrl": "https://x.com:99999/a.png"},
        {"avatarUrl": "https://example.com/" + "a" * 2030},
        {"avatarUrl": 7},
    ],
    ids=repr,
)
async def test_update_profile_rejects_invalid_fields(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    data = await register(client)
    response = await _update_profile(client, data["accessToken"], body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert (await _me(client, data["accessToken"])).json()["data"]["user"] == data["user"]


async def test_update_profile_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.put(f"{API}/auth/update-profile", json={"username": "someone"})
    assert response.status_code == 401


async def test_update_password_revokes_old_tokens_and_returns_fresh_ones(
    client: httpx.AsyncClient,
) -> None:
    data = await register(client)
    other_session = await login(client, data["user"]["email"])
    response = await _update_password(
        client,
        data["accessToken"],
        {"currentPassword": DEFAULT_PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert response.status_code == 200
    fresh = response.json()["data"]
    assert (await _me(client, fresh["accessToken"])).status_code == 200
    for old in (data, other_session):
        me = await _me(client, old["accessToken"])
        assert me.status_code == 401
        refreshed = await client.post(
            f"{API}/auth/refresh", json={"refreshToken": old["refreshToken"]}
        )
        assert refreshed.status_code == 401
    refreshed = await client.post(
        f"{API}/auth/refresh", json={"refreshToken": fresh["refreshToken"]}
    )
    assert refreshed.status_code == 200
    email = data["user"]["email"]
    assert (await login(client, email, NEW_PASSWORD))["user"]["id"] == data["user"]["id"]
    old_login = await client.post(
        f"{API}/auth/login", json={"email": email, "password": DEFAULT_PASSWORD}
    )
    assert old_login.status_code == 401


async def test_wrong_current_password_is_400_auth_006(client: httpx.AsyncClient) -> None:
    data = await register(client)
    response = await _update_password(
        client,
        data["accessToken"],
        {"currentPassword": "Wr0ng-Password!x", "newPassword": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "AUTH_006"
    assert (await _me(client, data["accessToken"])).status_code == 200


@pytest.mark.parametrize("new_password", ["short-1A", "Password123!", "user_abc-Q9zx!kw"])
async def test_update_password_applies_the_policy(
    client: httpx.AsyncClient, new_password: str
) -> None:
    data = await register(client, username="user_abc")
    response = await _update_password(
        client,
        data["accessToken"],
        {"currentPassword": DEFAULT_PASSWORD, "newPassword": new_password},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "WEAK_PASSWORD"
    assert (await login(client, data["user"]["email"]))["user"]["id"] == data["user"]["id"]


@pytest.mark.parametrize(
    "body",
    [{}, {"currentPassword": DEFAULT_PASSWORD}, {"newPassword": NEW_PASSWORD}, {"newPassword": 1}],
    ids=repr,
)
async def test_update_password_rejects_invalid_bodies(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    data = await register(client)
    response = await _update_password(client, data["accessToken"], body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_update_password_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.put(
        f"{API}/auth/update-password",
        json={"currentPassword": DEFAULT_PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert response.status_code == 401


async def _strength(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post(f"{API}/auth/check-password-strength", json=body)


async def test_password_strength_of_a_strong_password(client: httpx.AsyncClient) -> None:
    response = await _strength(client, {"password": "Correct-Horse-9battery"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["meetsPolicy"] is True
    assert data["score"] >= 3
    assert data["violations"] == []
    assert set(data) == {"score", "meetsPolicy", "warning", "suggestions", "violations"}


async def test_password_strength_explains_a_weak_password(client: httpx.AsyncClient) -> None:
    data = (await _strength(client, {"password": "password"})).json()["data"]
    assert data["meetsPolicy"] is False
    assert data["score"] <= 1
    assert data["warning"]
    assert data["suggestions"]
    codes = {v["code"] for v in data["violations"]}
    assert {"TOO_SHORT", "NO_UPPERCASE", "NO_DIGIT", "NO_SPECIAL", "TOO_COMMON"} <= codes
    assert all(v["message"] for v in data["violations"])


async def test_password_strength_checks_the_username(client: httpx.AsyncClient) -> None:
    body = {"password": "Zq9-Marvin!tpkw", "username": "MARVELOUS"}
    data = (await _strength(client, body)).json()["data"]
    assert data["meetsPolicy"] is False
    assert [v["code"] for v in data["violations"]] == ["CONTAINS_USERNAME"]


@pytest.mark.parametrize(
    "body",
    [{}, {"password": 5}, {"password": "x" * 129}, {"password": "ok", "username": "u" * 51}],
    ids=repr,
)
async def test_password_strength_rejects_invalid_bodies(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await _strength(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
