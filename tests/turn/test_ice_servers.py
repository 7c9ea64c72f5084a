"""`GET /turn/ice-servers` (CONTRACT §6.12): STUN for everyone, TURN REST credentials for
signed-in callers when TURN is configured, checked here the way coturn checks them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from cache_api.cache_api_helpers import every_value
from helpers import API, bearer, register_user

ICE = f"{API}/turn/ice-servers"
SECRET = "turn-shared-secret-" + "k" * 24
TURN = {"turn_enabled": True, "turn_server": "turn.example.com", "turn_secret": SECRET}
DEFAULT_STUN = [
    "stun:stun.l.google.com:19302",
    "stun:stun1.l.google.com:19302",
    "stun:stun2.l.google.com:19302",
    "stun:stun.microsoft.com:3478",
]
CONFIGURATION = {
    "iceCandidatePoolSize": 10,
    "iceTransportPolicy": "all",
    "bundlePolicy": "max-bundle",
    "rtcpMuxPolicy": "require",
}


def ice_data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["success"] is True
    data: dict[str, Any] = body["data"]
    assert set(data) == {"iceServers", "configuration", "turnConfig"}
    assert data["configuration"] == CONFIGURATION
    for entry in data["iceServers"]:
        assert isinstance(entry["urls"], str)  # the client calls a string method on it
    return data


def stun_entries(urls: list[str]) -> list[dict[str, str]]:
    return [{"urls": url} for url in urls]


def turn_config(
    enabled: bool, server: str, port: int, bandwidths: tuple[int, int] = (64000, 10_000_000)
) -> dict[str, Any]:
    """The expected `turnConfig`; the bandwidths default to Go's."""
    maximum, total = bandwidths
    return {
        "enabled": enabled,
        "server": server,
        "port": port,
        "maxBandwidth": maximum,
        "totalBandwidth": total,
    }


def coturn_accepts(username: str, credential: str, secret: str = SECRET) -> bool:
    """coturn's `use-auth-secret` check: the password is base64(HMAC-SHA1(secret, username))
    and the username starts with an expiry (Unix seconds) that has not passed."""
    expected = base64.b64encode(
        hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    ).decode()
    expiry = int(username.split(":", 1)[0])
    return hmac.compare_digest(expected, credential) and expiry > time.time()


async def signed_in(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, str]]:
    user, access, _ = await register_user(client)
    return user, bearer(access)


async def test_anonymous_callers_get_the_stun_servers_only(
    app_client: Callable[..., Any],
) -> None:
    """Guests never send a token; in Go they got 401 and so no ICE servers at all."""
    async with app_client(**TURN) as client:
        data = ice_data(await client.get(ICE))
    assert data["iceServers"] == stun_entries(DEFAULT_STUN)
    assert data["turnConfig"] == turn_config(False, "turn.example.com", 3478)


async def test_without_turn_configured_a_signed_in_caller_gets_stun_only(
    client: httpx.AsyncClient,
) -> None:
    _, auth = await signed_in(client)
    data = ice_data(await client.get(ICE, headers=auth))
    assert data["iceServers"] == stun_entries(DEFAULT_STUN)
    assert data["turnConfig"] == turn_config(False, "", 0)


@pytest.mark.parametrize(
    "turn",
    [
        {"turn_enabled": False, "turn_server": "turn.example.com", "turn_secret": SECRET},
        {"turn_enabled": True, "turn_server": "turn.example.com"},
        {"turn_enabled": True, "turn_secret": SECRET},
    ],
    ids=["disabled", "no-secret", "no-server"],
)
async def test_turn_needs_to_be_enabled_with_a_server_and_a_secret(
    app_client: Callable[..., Any], turn: dict[str, Any]
) -> None:
    async with app_client(**turn) as client:
        _, auth = await signed_in(client)
        data = ice_data(await client.get(ICE, headers=auth))
    assert data["iceServers"] == stun_entries(DEFAULT_STUN)
    assert data["turnConfig"] == turn_config(False, "", 0)


async def test_a_signed_in_caller_gets_turn_credentials_that_coturn_accepts(
    app_client: Callable[..., Any],
) -> None:
    async with app_client(**TURN, turn_max_bandwidth=1000, turn_total_bandwidth=2000) as client:
        user, auth = await signed_in(client)
        before = int(time.time())
        data = ice_data(await client.get(ICE, headers=auth))
        after = int(time.time())

    stun, turn = data["iceServers"][:4], data["iceServers"][4:]
    assert stun == stun_entries(DEFAULT_STUN)
    assert [entry["urls"] for entry in turn] == [
        "turn:turn.example.com:3478",
        "turns:turn.example.com:5349",
    ]
    first, second = turn
    assert first["username"] == second["username"]
    assert first["credential"] == second["credential"]
    assert first["credentialType"] == second["credentialType"] == "password"
    username = first["username"]
    expiry, opaque = username.split(":", 1)
    assert before + 86400 <= int(expiry) <= after + 86400  # TURN_CREDENTIAL_TTL
    assert opaque
    assert user["id"] not in username  # the id is opaque
    assert coturn_accepts(username, first["credential"])
    assert not coturn_accepts(username, first["credential"], secret="another-secret")
    assert data["turnConfig"] == turn_config(True, "turn.example.com", 3478, (1000, 2000))


async def test_ports_ttl_and_stun_list_come_from_the_settings(
    app_client: Callable[..., Any],
) -> None:
    settings = {
        **TURN,
        "turn_port": 3479,
        "turn_tls_port": 443,
        "turn_credential_ttl": 600,
        "webrtc_stun_servers": "stun:stun.example.org:3478, stun:[2001:db8::1]:3478",
    }
    async with app_client(**settings) as client:
        _, auth = await signed_in(client)
        now = int(time.time())
        data = ice_data(await client.get(ICE, headers=auth))
    urls = [entry["urls"] for entry in data["iceServers"]]
    assert urls == [
        "stun:stun.example.org:3478",
        "stun:[2001:db8::1]:3478",
        "turn:turn.example.com:3479",
        "turns:turn.example.com:443",
    ]
    expiry = int(data["iceServers"][2]["username"].split(":", 1)[0])
    assert now + 600 - 5 <= expiry <= now + 600 + 5
    assert data["turnConfig"]["port"] == 3479


async def test_each_answer_has_a_fresh_credential_and_nothing_is_stored(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    async with app_client(**TURN) as client:
        _, auth = await signed_in(client)
        answers = [ice_data(await client.get(ICE, headers=auth)) for _ in range(2)]
    usernames = {answer["iceServers"][4]["username"] for answer in answers}
    assert len(usernames) == 2
    values = await every_value(clean_redis)
    stored = b" ".join(key.encode() + b"=" + value for key, value in values.items())
    for answer in answers:
        entry = answer["iceServers"][4]
        assert entry["username"].encode() not in stored
        assert entry["credential"].encode() not in stored


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": ""},
    ],
    ids=["garbage", "empty-bearer", "basic", "empty"],
)
async def test_an_invalid_authorization_is_401_as_everywhere(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get(ICE, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"UNAUTHORIZED", "AUTH_002"}


async def test_a_revoked_or_refresh_token_is_401(app_client: Callable[..., Any]) -> None:
    async with app_client(**TURN) as client:
        _, access, refresh = await register_user(client)
        refused = await client.get(ICE, headers=bearer(refresh))
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "AUTH_004")
        assert (await client.post(f"{API}/auth/logout", headers=bearer(access))).status_code == 200
        revoked = await client.get(ICE, headers=bearer(access))
        assert (revoked.status_code, revoked.json()["error"]["code"]) == (401, "AUTH_005")
        assert "turn:" not in revoked.text


async def test_meeting_id_must_be_a_uuid_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    plain = ice_data(await client.get(ICE))
    meeting_id = str(uuid.uuid4())
    for value in (meeting_id, meeting_id.upper()):
        assert ice_data(await client.get(ICE, params={"meetingId": value})) == plain
    for bad in ("not-a-uuid", "", "1" * 33, "x" * 5000):
        response = await client.get(ICE, params={"meetingId": bad})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "INVALID_MEETING_ID"


async def test_anonymous_callers_use_the_ip_limit_and_signed_in_ones_their_own(
    app_client: Callable[..., Any],
) -> None:
    settings = {
        "rate_limit_enabled": True,
        "rate_limit_general_requests": 3,
        "rate_limit_authenticated_requests": 7,
    }
    async with app_client(**settings) as client:
        _, auth = await signed_in(client)  # 1 of the IP's 3
        anonymous = await client.get(ICE)
        assert anonymous.headers["x-ratelimit-limit"] == "3"
        assert anonymous.headers["x-ratelimit-remaining"] == "1"
        assert (await client.get(ICE)).status_code == 200
        assert (await client.get(ICE)).status_code == 429
        # The IP's bucket is full; the signed-in caller has a bucket of their own.
        mine = await client.get(ICE, headers=auth)
        assert mine.status_code == 200
        assert mine.headers["x-ratelimit-limit"] == "7"


async def test_credentials_never_reach_the_logs(
    app_client: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    async with app_client(**TURN, log_level="DEBUG") as client:
        _, auth = await signed_in(client)
        capsys.readouterr()
        params = {"meetingId": str(uuid.uuid4())}
        data = ice_data(await client.get(ICE, headers=auth, params=params))
        logged = capsys.readouterr()
    output = logged.out + logged.err
    assert '"request"' in output  # the access record was written
    turn = data["iceServers"][4]
    for secret in (turn["username"], turn["credential"], SECRET, auth["Authorization"][7:]):
        assert secret not in output


async def test_anonymous_callers_are_served_with_the_database_down(
    app_client: Callable[..., Any],
) -> None:
    dead = "postgresql+asyncpg://gomeet:hunter2@127.0.0.1:1/gomeet"
    async with app_client(database_url=dead) as client:
        data = ice_data(await client.get(ICE))
    assert data["iceServers"] == stun_entries(DEFAULT_STUN)
