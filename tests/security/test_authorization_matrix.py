"""The authorization matrix: every endpoint (REST and the signaling WebSocket handshake) by
every kind of caller → the status it gets, on the real app over real HTTP (uvicorn), with
real Redis and the database. The table must have a row for every route the app serves: an
endpoint added without one fails `test_every_route_has_a_row`.

Callers: no token; a token that is expired, wrongly signed, `alg: none`, a refresh token,
revoked by a logout or by a password change; another user (signed in, no relation to the
meeting); the meeting's host; its participant; a guest session (no bearer; its session id
where the endpoint takes one); an administrator (not in the meeting). Each cell that writes
gets its own meeting, user or session, so that cells do not depend on each other.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conformance.conformance_helpers import ThreadedServer, sign_in
from gomeet.app import create_app
from gomeet.auth.security import ALGORITHM
from gomeet.config import Settings
from gomeet.routes import served_routes
from helpers import API, DEFAULT_PASSWORD, register
from signaling.signaling_helpers import new_guest, new_meeting

BAD = ("expired", "bad_signature", "alg_none", "refresh", "revoked_logout", "revoked_password")
SIGNED = ("other", "host", "participant", "admin")
KINDS = ("none", *BAD, *SIGNED, "guest")
NEW_PASSWORD = "N3w-Str0ng-Pass!y"


@dataclass
class Request:
    method: str
    path: str
    json: Any = None
    params: dict[str, str] | None = None
    auth: bool = True  # send the caller's bearer token (if it has one)


@dataclass
class World:
    """Users, tokens, a meeting and a guest, on a served app."""

    http: httpx.AsyncClient
    base: str
    settings: Settings
    database_url: str
    redis_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    meeting_id: str = ""
    session_id: str = ""

    async def register(self) -> dict[str, Any]:
        return await register(self.http)

    async def call(self, method: str, path: str, token: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        response = await self.http.request(method, path, json=body, headers=headers)
        assert response.status_code < 300, (path, response.text)
        return response.json()["data"]

    async def meeting(self) -> str:
        """A new meeting of the host that the participant has joined."""
        meeting_id = await new_meeting(self.http, self.tokens["host"])
        await self.call("POST", f"{API}/meetings/{meeting_id}/join", self.tokens["participant"])
        return meeting_id

    async def guest(self) -> str:
        return (await new_guest(self.http, "Guest"))[1]

    async def own_token(self, kind: str) -> str:
        """For endpoints that act on the caller alone (logout, password, profile): a fresh
        signed-in caller of the same kind, so that the world's tokens stay valid."""
        if kind == "admin":
            caller = await asyncio.to_thread(
                sign_in, self.base, self.database_url, self.redis_url, "admin"
            )
            return caller.token
        if kind in SIGNED:
            token: str = (await self.register())["accessToken"]
            return token
        return self.tokens.get(kind, "")

    def forge(self, secret: str | None, algorithm: str, expired: bool = False) -> str:
        """The host's own valid access token, re-signed (or expired): only that differs."""
        payload = jwt.decode(self.tokens["host"], options={"verify_signature": False})
        if expired:
            payload["exp"] = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
        return jwt.encode(payload, secret, algorithm=algorithm)  # type: ignore[arg-type]


async def build_world(world: World) -> None:
    for kind in ("host", "participant", "other", "revoked_logout", "revoked_password"):
        data = await world.register()
        world.users[kind], world.tokens[kind] = data["user"], data["accessToken"]
        if kind == "host":
            world.tokens["refresh"] = data["refreshToken"]
    admin = await asyncio.to_thread(
        sign_in, world.base, world.database_url, world.redis_url, "admin"
    )
    world.tokens["admin"] = admin.token
    await world.call("POST", f"{API}/auth/logout", world.tokens["revoked_logout"])
    change = {"currentPassword": DEFAULT_PASSWORD, "newPassword": NEW_PASSWORD}
    await world.call("PUT", f"{API}/auth/update-password", world.tokens["revoked_password"], change)
    secret = world.settings.effective_jwt_secret
    world.tokens["expired"] = world.forge(secret, ALGORITHM, expired=True)
    world.tokens["bad_signature"] = world.forge("another-secret-" + "y" * 40, ALGORITHM)
    world.tokens["alg_none"] = world.forge(None, "none")
    world.meeting_id = await world.meeting()
    world.session_id = await world.guest()
    await world.http.post(
        f"{API}/public-users/join-meeting",
        json={"sessionId": world.session_id, "meetingId": world.meeting_id},
    )


# -- expected statuses ------------------------------------------------------------------


def public(status: int = 200) -> dict[str, int]:
    """Anyone, whatever the `Authorization` header holds (it is not read)."""
    return dict.fromkeys(KINDS, status)


def optional(status: int = 200) -> dict[str, int]:
    """Anyone; a header that is present must hold a valid access token."""
    return {**public(status), **dict.fromkeys(BAD, 401)}


def signed_in(status: int = 200) -> dict[str, int]:
    return {**dict.fromkeys(KINDS, 401), **dict.fromkeys(SIGNED, status)}


def member(status: int = 200) -> dict[str, int]:
    return {**signed_in(status), "other": 403, "admin": 403}


def host(status: int = 200) -> dict[str, int]:
    return {**member(status), "participant": 403}


def admin(status: int = 200) -> dict[str, int]:
    return {**signed_in(403), "admin": status}


Build = Callable[[World, str], Awaitable[Request]]


def fixed(method: str, path: str, body: Any = None, **params: str) -> Build:
    async def build(w: World, kind: str) -> Request:
        return Request(method, path.format(m=w.meeting_id, s=w.session_id), body, params or None)

    return build


def on_new_meeting(method: str, suffix: str = "", by_body: bool = False) -> Build:
    async def build(w: World, kind: str) -> Request:
        meeting_id = await w.meeting()
        if suffix == "/leave" and kind in ("other", "host", "admin"):  # one can leave once in
            await w.call("POST", f"{API}/meetings/{meeting_id}/join", w.tokens[kind])
        if by_body:
            return Request(method, f"{API}/meetings{suffix}", {"meetingId": meeting_id})
        return Request(method, f"{API}/meetings/{meeting_id}{suffix}", {"name": "Renamed"})

    return build


def as_guest(method: str, path: str) -> Build:
    """A guest endpoint on a new meeting; the guest kind uses its own session."""

    async def build(w: World, kind: str) -> Request:
        session_id = w.session_id if kind == "guest" else await w.guest()
        body = {"sessionId": session_id, "meetingId": await w.meeting()}
        if path.endswith("leave-meeting"):
            await w.http.post(f"{API}/public-users/join-meeting", json=body)
        return Request(method, path, body)

    return build


def own(method: str, path: str, body: Callable[[], Any] | None = None) -> Build:
    """An endpoint about the caller alone: a fresh caller of the kind (its token changes)."""

    async def build(w: World, kind: str) -> Request:
        w.tokens[f"own:{kind}"] = await w.own_token(kind)
        return Request(method, path, body() if body else None)

    return build


async def fresh_login(w: World, kind: str) -> Request:
    user = await w.register()
    return Request("POST", f"{API}/auth/login", {"email": user["user"]["email"],
                                                 "password": DEFAULT_PASSWORD})  # fmt: skip


async def fresh_refresh(w: World, kind: str) -> Request:
    return Request(
        "POST", f"{API}/auth/refresh", {"refreshToken": (await w.register())["refreshToken"]}
    )


async def fresh_register(w: World, kind: str) -> Request:
    name = f"r_{uuid.uuid4().hex[:10]}"
    body = {"username": name, "email": f"{name}@example.com", "password": DEFAULT_PASSWORD}
    return Request("POST", f"{API}/auth/register", body)


async def new_guest_user(w: World, kind: str) -> Request:
    return Request("POST", f"{API}/public-users", {"name": "G", "sessionId": uuid.uuid4().hex})


MEETING = f"{API}/meetings/{{m}}"
FLAG = {"flagName": "enable_sfu_logs", "enabled": True}
WS = "WS /api/v1/ws/meetings/{meeting_id}"

# (method, route template) → (how to build the request, status by kind of caller).
MATRIX: dict[str, tuple[Build, dict[str, int]]] = {
    "GET /openapi.json": (fixed("GET", "/openapi.json"), public()),
    "GET /docs": (fixed("GET", "/docs"), public()),
    "GET /docs/oauth2-redirect": (fixed("GET", "/docs/oauth2-redirect"), public()),
    "GET /redoc": (fixed("GET", "/redoc"), public()),
    "GET /docs/assets/{path}": (fixed("GET", "/docs/assets/swagger-ui.css"), public()),
    "GET /api/health/live": (fixed("GET", "/api/health/live"), public()),
    "GET /api/health": (fixed("GET", "/api/health"), public()),
    "GET /metrics": (fixed("GET", "/metrics"), public()),
    "POST /api/v1/auth/register": (fresh_register, public(201)),
    "POST /api/v1/auth/login": (fresh_login, public()),
    "POST /api/v1/auth/refresh": (fresh_refresh, public()),
    "POST /api/v1/auth/logout": (own("POST", f"{API}/auth/logout"), signed_in()),
    "POST /api/v1/auth/check-password-strength": (
        fixed("POST", f"{API}/auth/check-password-strength", {"password": "x"}),
        public(),
    ),
    "GET /api/v1/auth/me": (fixed("GET", f"{API}/auth/me"), signed_in()),
    "PUT /api/v1/auth/update-profile": (
        own("PUT", f"{API}/auth/update-profile", lambda: {"username": f"p_{uuid.uuid4().hex[:8]}"}),
        signed_in(),
    ),
    "PUT /api/v1/auth/update-password": (
        own(
            "PUT",
            f"{API}/auth/update-password",
            lambda: {"currentPassword": DEFAULT_PASSWORD, "newPassword": NEW_PASSWORD},
        ),
        signed_in(),
    ),
    "GET /api/v1/meetings": (fixed("GET", f"{API}/meetings"), signed_in()),
    "POST /api/v1/meetings": (
        fixed("POST", f"{API}/meetings", {"name": "M", "startTime": "2030-01-01T10:00:00Z"}),
        signed_in(201),
    ),
    "GET /api/v1/meetings/upcoming": (fixed("GET", f"{API}/meetings/upcoming"), signed_in()),
    "GET /api/v1/meetings/past": (fixed("GET", f"{API}/meetings/past"), signed_in()),
    "GET /api/v1/meetings/joined": (fixed("GET", f"{API}/meetings/joined"), signed_in()),
    "POST /api/v1/meetings/join": (on_new_meeting("POST", "/join", by_body=True), signed_in()),
    "POST /api/v1/meetings/leave": (on_new_meeting("POST", "/leave", by_body=True), signed_in()),
    "GET /api/v1/meetings/{meeting_id}": (fixed("GET", MEETING), member()),
    "PUT /api/v1/meetings/{meeting_id}": (on_new_meeting("PUT"), host()),
    "DELETE /api/v1/meetings/{meeting_id}": (on_new_meeting("DELETE"), host()),
    "PATCH /api/v1/meetings/{meeting_id}/start": (on_new_meeting("PATCH", "/start"), host()),
    "PATCH /api/v1/meetings/{meeting_id}/end": (on_new_meeting("PATCH", "/end"), host()),
    "POST /api/v1/meetings/{meeting_id}/join": (on_new_meeting("POST", "/join"), signed_in()),
    "POST /api/v1/meetings/{meeting_id}/leave": (on_new_meeting("POST", "/leave"), signed_in()),
    "GET /api/v1/meetings/{meeting_id}/participants": (
        fixed("GET", f"{MEETING}/participants"),
        member(),
    ),
    "GET /api/v1/meetings/{meeting_id}/public": (fixed("GET", f"{MEETING}/public"), public()),
    "GET /api/v1/meetings/{meeting_id}/participants/public": (
        fixed("GET", f"{MEETING}/participants/public"),
        public(),
    ),
    "POST /api/v1/public-users": (new_guest_user, public(201)),
    "GET /api/v1/public-users/session/{session_id}": (
        fixed("GET", f"{API}/public-users/session/{{s}}"),
        public(),
    ),
    "PUT /api/v1/public-users/session/{session_id}": (
        fixed("PUT", f"{API}/public-users/session/{{s}}", {"name": "Renamed guest"}),
        public(),
    ),
    "POST /api/v1/public-users/join-meeting": (
        as_guest("POST", f"{API}/public-users/join-meeting"),
        public(),
    ),
    "POST /api/v1/public-users/leave-meeting": (
        as_guest("POST", f"{API}/public-users/leave-meeting"),
        public(),
    ),
    "GET /api/v1/feature-flags/config": (fixed("GET", f"{API}/feature-flags/config"), signed_in()),
    "GET /api/v1/feature-flags/all": (fixed("GET", f"{API}/feature-flags/all"), signed_in()),
    "POST /api/v1/feature-flags/set": (fixed("POST", f"{API}/feature-flags/set", FLAG), admin()),
    "POST /api/v1/feature-flags/batch-set": (
        fixed("POST", f"{API}/feature-flags/batch-set", [FLAG]),
        admin(),
    ),
    "GET /api/v1/feature-flags/{flag_name}": (
        fixed("GET", f"{API}/feature-flags/use_webrtc_mesh"),
        signed_in(),
    ),
    "GET /api/v1/admin/cache/stats": (fixed("GET", f"{API}/admin/cache/stats"), admin()),
    "GET /api/v1/admin/cache/health": (fixed("GET", f"{API}/admin/cache/health"), admin()),
    "POST /api/v1/admin/cache/warm": (
        fixed("POST", f"{API}/admin/cache/warm", {"maxUsers": 1, "maxMeetings": 1}),
        admin(),
    ),
    "DELETE /api/v1/admin/cache": (
        fixed("DELETE", f"{API}/admin/cache", family="feature_flag"),
        admin(),
    ),
    "POST /api/v1/admin/cache/ttl/{family}": (
        fixed("POST", f"{API}/admin/cache/ttl/feature_flag", {"seconds": 300}),
        admin(),
    ),
    "DELETE /api/v1/admin/cache/ttl/{family}": (
        fixed("DELETE", f"{API}/admin/cache/ttl/feature_flag"),
        admin(),
    ),
    # The page and its assets are public: the page signs in with the API's login.
    "GET /api/v1/admin/dashboard": (fixed("GET", f"{API}/admin/dashboard"), public()),
    "GET /api/v1/admin/dashboard/assets/{name}": (
        fixed("GET", f"{API}/admin/dashboard/assets/dashboard.js"),
        public(),
    ),
    "GET /api/v1/admin/dashboard/data": (fixed("GET", f"{API}/admin/dashboard/data"), admin()),
    "GET /api/v1/turn/ice-servers": (fixed("GET", f"{API}/turn/ice-servers"), optional()),
    # The handshake (anonymous connections off, so that refusals show): a token that is not
    # a valid access token is ignored, never a refusal on its own (CONTRACT §6.1); a guest
    # session or a valid token is an identity; nothing else is.
    WS: (
        fixed("WS", ""),
        {**dict.fromkeys(KINDS, 401), **dict.fromkeys(SIGNED, 101), "guest": 101},
    ),
}


def served_endpoints() -> set[str]:
    """Every (method, template) the app routes, HEAD aside, as the table's keys."""
    served: set[str] = set()
    for route in served_routes(create_app(Settings(_env_file=None))):  # type: ignore[call-arg]
        methods = getattr(route, "methods", None) or {"WS" if "ws" in route.path_format else "GET"}
        served |= {f"{m} {route.path_format}" for m in methods if m != "HEAD"}
    return served


def test_every_route_has_a_row() -> None:
    served = served_endpoints()
    assert served - MATRIX.keys() == set(), "endpoints without a row in the matrix"
    assert MATRIX.keys() - served == set(), "rows for endpoints the app does not serve"
    assert all(set(expected) == set(KINDS) for _, expected in MATRIX.values())


async def _handshake(w: World, kind: str) -> int:
    query: dict[str, str] = {}
    if kind == "guest":
        query["sessionId"] = w.session_id
    elif kind in w.tokens:
        query["token"] = w.tokens[kind]
    url = f"ws://{w.base.removeprefix('http://')}{API}/ws/meetings/{w.meeting_id}"
    url += "?" + httpx.QueryParams(query).__str__() if query else ""
    try:
        async with connect(url, open_timeout=10, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "join", "to": "", "data": {}}))
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def status_of(w: World, row: str, kind: str) -> int:
    build, _ = MATRIX[row]
    request = await build(w, kind)
    if request.method == "WS":
        return await _handshake(w, kind)
    token = w.tokens.get(f"own:{kind}") or w.tokens.get(kind)
    headers = {"Authorization": f"Bearer {token}"} if token and request.auth else {}
    response = await w.http.request(
        request.method, request.path, json=request.json, params=request.params, headers=headers
    )
    w.tokens.pop(f"own:{kind}", None)
    return response.status_code


async def test_authorization_matrix(
    app_client: Any, make_settings: Callable[..., Settings], database_url: str, redis_url: str
) -> None:
    settings = make_settings(ws_allow_anonymous=False)
    with ThreadedServer(create_app(settings)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            world = World(http, server.url, settings, database_url, redis_url)
            await build_world(world)
            wrong = []
            for row, (_, expected) in MATRIX.items():
                for kind in KINDS:
                    status = await status_of(world, row, kind)
                    if status != expected[kind]:
                        wrong.append(f"{row} as {kind}: {status}, expected {expected[kind]}")
    cells = len(MATRIX) * len(KINDS)
    print(f"\nauthorization matrix: {len(MATRIX)} endpoints x {len(KINDS)} callers = {cells}")
    assert not wrong, "\n".join(wrong)
