"""`/feature-flags`: reads for signed-in users, admin writes, the cache kept in step."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from gomeet.auth.models import Role, User
from gomeet.auth.security import TokenType, create_token
from gomeet.feature_flags.models import KNOWN_FLAG_DEFAULTS, FeatureFlag
from helpers import bearer

BASE = "/api/v1/feature-flags"
FLAG_KEYS = {"name", "enabled", "description", "updatedAt"}


async def make_user(client: httpx.AsyncClient, *, admin: bool = False) -> dict[str, str]:
    """A user row (admin or not) and the bearer header of an access token for it."""
    app: Any = client.app  # type: ignore[attr-defined]
    name = f"flags_{uuid.uuid4().hex[:10]}"
    user = User(
        username=name,
        email=f"{name}@example.com",
        password_hash="not-used-here",
        role=(Role.ADMIN if admin else Role.USER).value,
    )
    async with app.state.sessionmaker() as session:
        session.add(user)
        await session.commit()
    return bearer(create_token(app.state.settings, user.id, TokenType.ACCESS, 0))


async def user_id_of(client: httpx.AsyncClient, headers: dict[str, str]) -> uuid.UUID:
    from gomeet.auth.security import decode_token

    app: Any = client.app  # type: ignore[attr-defined]
    token = headers["Authorization"].removeprefix("Bearer ")
    return decode_token(app.state.settings, token, TokenType.ACCESS).user_id


@pytest.fixture
async def user(client: httpx.AsyncClient) -> dict[str, str]:
    return await make_user(client)


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> dict[str, str]:
    return await make_user(client, admin=True)


async def get_flag(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> Any:
    response = await client.get(f"{BASE}/{name}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def set_flag(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> Any:
    return await client.post(f"{BASE}/set", json=body, headers=headers)


# -- reads ---------------------------------------------------------------------------------


async def test_config_is_every_flag_with_defaults(
    client: httpx.AsyncClient, user: dict[str, str]
) -> None:
    response = await client.get(f"{BASE}/config", headers=user)
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["data"] == KNOWN_FLAG_DEFAULTS


async def test_config_defaults_a_known_flag_missing_from_the_database(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    app: Any = client.app  # type: ignore[attr-defined]
    async with app.state.sessionmaker() as session:
        await session.execute(delete(FeatureFlag).where(FeatureFlag.name == "use_webrtc_mesh"))
        await session.commit()
    assert (await set_flag(client, admin, flagName="beta_chat", enabled=True)).status_code == 200

    data = (await client.get(f"{BASE}/config", headers=user)).json()["data"]
    assert data == {**KNOWN_FLAG_DEFAULTS, "beta_chat": True}


async def test_all_lists_every_flag_with_its_fields(
    client: httpx.AsyncClient, user: dict[str, str]
) -> None:
    response = await client.get(f"{BASE}/all", headers=user)
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) == set(KNOWN_FLAG_DEFAULTS)
    for name, flag in data.items():
        assert set(flag) == FLAG_KEYS
        assert flag["name"] == name
        assert flag["enabled"] is KNOWN_FLAG_DEFAULTS[name]


async def test_get_one_flag(client: httpx.AsyncClient, user: dict[str, str]) -> None:
    flag = await get_flag(client, user, "use_webrtc_mesh")
    assert set(flag) == FLAG_KEYS
    assert flag["name"] == "use_webrtc_mesh"
    assert flag["enabled"] is True


async def test_unknown_flag_is_404(client: httpx.AsyncClient, user: dict[str, str]) -> None:
    for _ in range(2):  # a miss, then whatever the cache remembered of it
        response = await client.get(f"{BASE}/no_such_flag", headers=user)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "FLAG_NOT_FOUND"


@pytest.mark.parametrize(
    "name", ["Upper", "1digit", "_under", "has-dash", "has%20space", "x" * 65, "%C3%BCml", "a.b"]
)
async def test_bad_flag_name_is_400(
    client: httpx.AsyncClient, user: dict[str, str], name: str
) -> None:
    response = await client.get(f"{BASE}/{name}", headers=user)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_FLAG_NAME"


@pytest.mark.parametrize("path", ["/config", "/all", "/use_webrtc_mesh"])
async def test_reads_need_a_valid_access_token(client: httpx.AsyncClient, path: str) -> None:
    no_token: dict[str, str] = {}
    for headers in (no_token, bearer("not-a-jwt")):
        response = await client.get(BASE + path, headers=headers)
        assert response.status_code == 401
        assert response.json()["success"] is False


# -- writes --------------------------------------------------------------------------------


async def test_set_is_seen_by_every_read_at_once(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    before = await get_flag(client, user, "use_livekit_sfu")  # now cached, if caching is on
    assert before["enabled"] is False

    response = await set_flag(
        client, admin, flagName="use_livekit_sfu", enabled=True, description="SFU for all"
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["enabled"] is True
    assert data["description"] == "SFU for all"
    assert data["updatedAt"] > before["updatedAt"]

    assert await get_flag(client, user, "use_livekit_sfu") == data
    all_flags = (await client.get(f"{BASE}/all", headers=user)).json()["data"]
    assert all_flags["use_livekit_sfu"] == data
    config = (await client.get(f"{BASE}/config", headers=user)).json()["data"]
    assert config["use_livekit_sfu"] is True


async def test_set_records_who_changed_the_flag(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert (await set_flag(client, admin, flagName="use_webrtc_mesh", enabled=False)).is_success
    app: Any = client.app  # type: ignore[attr-defined]
    async with app.state.sessionmaker() as session:
        flag = await session.get(FeatureFlag, "use_webrtc_mesh")
    assert flag is not None
    assert flag.enabled is False
    assert flag.updated_by == await user_id_of(client, admin)


async def test_set_creates_a_flag_that_was_404(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    assert (await client.get(f"{BASE}/new_flag", headers=user)).status_code == 404

    response = await set_flag(client, admin, flagName="new_flag", enabled=True)
    assert response.status_code == 200
    assert response.json()["data"]["description"] is None
    assert (await get_flag(client, user, "new_flag"))["enabled"] is True


async def test_description_is_kept_when_omitted_and_replaced_when_given(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    await set_flag(client, admin, flagName="described", enabled=True, description="First")
    await set_flag(client, admin, flagName="described", enabled=False)
    flag = await get_flag(client, user, "described")
    assert (flag["enabled"], flag["description"]) == (False, "First")

    await set_flag(client, admin, flagName="described", enabled=False, description=None)
    assert (await get_flag(client, user, "described"))["description"] is None


async def test_a_description_may_span_lines(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    text = "Line one\n\tline two"
    await set_flag(client, admin, flagName="described", enabled=True, description=text)
    assert (await get_flag(client, user, "described"))["description"] == text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"flagName": "Bad-Name", "enabled": True}, "INVALID_FLAG_NAME"),
        ({"flagName": "", "enabled": True}, "INVALID_FLAG_NAME"),
        ({"flagName": "config", "enabled": True}, "INVALID_FLAG_NAME"),
        ({"flagName": "all", "enabled": True}, "INVALID_FLAG_NAME"),
        ({"flagName": "ok_name"}, "VALIDATION_ERROR"),
        ({"enabled": True}, "VALIDATION_ERROR"),
        ({"flagName": "ok_name", "enabled": "yes"}, "VALIDATION_ERROR"),
        ({"flagName": "ok_name", "enabled": 1}, "VALIDATION_ERROR"),
        ({"flagName": 7, "enabled": True}, "VALIDATION_ERROR"),
        ({"flagName": "ok_name", "enabled": True, "description": "d" * 501}, "VALIDATION_ERROR"),
        ({"flagName": "ok_name", "enabled": True, "description": "nul\x00"}, "VALIDATION_ERROR"),
        ({"flagName": "ok_name", "enabled": True, "description": "esc\x1b"}, "VALIDATION_ERROR"),
        ({"flagName": "nul\x00", "enabled": True}, "INVALID_FLAG_NAME"),
    ],
)
async def test_invalid_set_is_400(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], code: str
) -> None:
    response = await client.post(f"{BASE}/set", json=body, headers=admin)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("path", ["/set", "/batch-set"])
async def test_writes_are_for_admins_only(
    client: httpx.AsyncClient, user: dict[str, str], path: str
) -> None:
    one = {"flagName": "use_livekit_sfu", "enabled": True}
    body: Any = one if path == "/set" else [one]
    assert (await client.post(BASE + path, json=body)).status_code == 401
    response = await client.post(BASE + path, json=body, headers=user)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert (await get_flag(client, user, "use_livekit_sfu"))["enabled"] is False


async def test_batch_set_applies_the_valid_items_and_reports_the_others(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    await get_flag(client, user, "enable_sfu_logs")  # cached before the write, if caching is on
    response = await client.post(
        f"{BASE}/batch-set",
        headers=admin,
        json=[
            {"flagName": "enable_sfu_logs", "enabled": False},
            {"flagName": "Not Valid", "enabled": True},
            {"flagName": "batch_new", "enabled": True, "description": "made in a batch"},
            {"flagName": "config", "enabled": True},
        ],
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["successCount"], data["errorCount"]) == (2, 2)
    results = data["results"]
    assert [(r["flagName"], r["success"]) for r in results] == [
        ("enable_sfu_logs", True),
        ("Not Valid", False),
        ("batch_new", True),
        ("config", False),
    ]
    assert "error" not in results[0]
    assert results[1]["error"] and results[3]["error"]

    assert (await get_flag(client, user, "enable_sfu_logs"))["enabled"] is False
    assert (await get_flag(client, user, "batch_new"))["description"] == "made in a batch"
    config = (await client.get(f"{BASE}/config", headers=user)).json()["data"]
    assert config == {**KNOWN_FLAG_DEFAULTS, "enable_sfu_logs": False, "batch_new": True}


async def test_batch_set_with_only_bad_names_changes_nothing(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    response = await client.post(
        f"{BASE}/batch-set", headers=admin, json=[{"flagName": "BAD", "enabled": True}]
    )
    assert response.status_code == 200
    assert response.json()["data"]["successCount"] == 0
    config = (await client.get(f"{BASE}/config", headers=user)).json()["data"]
    assert config == KNOWN_FLAG_DEFAULTS


async def test_batch_set_repeating_a_flag_keeps_the_last_value(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    items = [{"flagName": "twice", "enabled": v} for v in (True, False, True, False)]
    response = await client.post(f"{BASE}/batch-set", headers=admin, json=items)
    assert response.json()["data"]["successCount"] == 4
    assert (await get_flag(client, user, "twice"))["enabled"] is False


@pytest.mark.parametrize(
    "body",
    [
        [],
        [{"flagName": f"flag_{i}", "enabled": True} for i in range(101)],
        {"flagName": "use_livekit_sfu", "enabled": True},
        [{"flagName": "ok_name", "enabled": "no"}],
        [{"enabled": True}],
    ],
)
async def test_invalid_batch_is_400_and_changes_nothing(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str], body: Any
) -> None:
    response = await client.post(f"{BASE}/batch-set", headers=admin, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    config = (await client.get(f"{BASE}/config", headers=user)).json()["data"]
    assert config == KNOWN_FLAG_DEFAULTS


async def test_batch_of_100_is_accepted(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    items = [{"flagName": f"flag_{i}", "enabled": i % 2 == 0} for i in range(100)]
    response = await client.post(f"{BASE}/batch-set", headers=admin, json=items)
    assert response.status_code == 200
    assert response.json()["data"]["successCount"] == 100
    config = (await client.get(f"{BASE}/config", headers=user)).json()["data"]
    assert config["flag_98"] is True
    assert config["flag_99"] is False
