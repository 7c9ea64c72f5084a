"""CONTRACT §6.1: who the caller is, and every refusal, answered before the upgrade as an
HTTP response with the standard error envelope."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from signaling_helpers import (
    Peer,
    bearer,
    drain_all,
    new_guest,
    new_meeting,
    new_user,
    refusal,
)
from sqlalchemy import func, select

from gomeet.auth.security import TokenType, create_token
from gomeet.public_users.models import PublicUser

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

LiveServerFactory = Callable[..., Any]


def refused_with(
    result: tuple[int, dict[str, Any], dict[str, str]], status: int, code: str
) -> None:
    got_status, body, _ = result
    assert (got_status, body["success"], body["error"]["code"]) == (status, False, code), body
    assert set(body["error"]) >= {"code", "message", "details"}


async def test_malformed_unknown_and_deleted_meetings_are_refused(
    live_server: LiveServerFactory,
) -> None:
    async with live_server() as server, server.http() as http:
        _, _, token = await new_user(http)
        meeting = await new_meeting(http, token)
        deleted = await new_meeting(http, token)
        assert (
            await http.delete(f"/api/v1/meetings/{deleted}", headers=bearer(token))
        ).status_code == 200

        refused_with(await refusal(server.ws_url, "not-a-uuid"), 400, "INVALID_MEETING_ID")
        refused_with(await refusal(server.ws_url, str(uuid.uuid4())), 404, "MEETING_NOT_FOUND")
        refused_with(await refusal(server.ws_url, deleted), 404, "MEETING_NOT_FOUND")
        # The meeting exists and is not started: that is fine.
        peer = await Peer.open(server.ws_url, meeting)
        await peer.barrier()
        await drain_all(peer)


async def test_a_foreign_origin_is_refused_and_the_api_and_cors_origins_are_accepted(
    live_server: LiveServerFactory,
) -> None:
    async with live_server(
        cors_origins=["http://app.example", "https://client.example:8443"]
    ) as server:
        async with server.http() as http:
            _, _, token = await new_user(http)
            meeting = await new_meeting(http, token)
        for foreign in ("http://evil.example", "https://app.example", "null", "http://127.0.0.1:1"):
            refused_with(await refusal(server.ws_url, meeting, origin=foreign), 403, "FORBIDDEN")
        allowed = [
            None,  # not a browser
            "http://app.example",
            "HTTPS://client.example:8443",
            f"http://127.0.0.1:{server.port}",  # the API's own origin
        ]
        peers = [await Peer.open(server.ws_url, meeting, origin=o, label=str(o)) for o in allowed]
        for peer in peers:
            await peer.barrier()
        await drain_all(*peers)


async def test_no_identity_is_refused_with_401_when_anonymous_connections_are_disabled(
    live_server: LiveServerFactory,
) -> None:
    async with live_server(ws_allow_anonymous=False) as server, server.http() as http:
        _, username, token = await new_user(http)
        meeting = await new_meeting(http, token)
        _, session = await new_guest(http, "Grace")
        refused_with(await refusal(server.ws_url, meeting), 401, "UNAUTHORIZED")
        refused_with(
            await refusal(server.ws_url, meeting, token="garbage", session_id="no-such-session"),
            401,
            "UNAUTHORIZED",
        )
        # A usable identity gets in: a token, or a guest session.
        observer = await Peer.open(server.ws_url, meeting, session_id=session)
        member = await Peer.open(server.ws_url, meeting, token=token)
        await observer.joined(username)
        await drain_all(observer, member)


async def test_the_meeting_full_refusal_holds_under_concurrent_handshakes(
    live_server: LiveServerFactory,
) -> None:
    async with live_server(ws_max_participants=3) as server, server.http() as http:
        _, _, token = await new_user(http)
        meeting = await new_meeting(http, token)

        async def attempt() -> Peer | tuple[int, dict[str, Any], dict[str, str]]:
            try:
                return await Peer.open(server.ws_url, meeting)
            except Exception:
                return await refusal(server.ws_url, meeting)

        results = await asyncio.gather(*(attempt() for _ in range(8)))
        peers = [r for r in results if isinstance(r, Peer)]
        refusals = [r for r in results if not isinstance(r, Peer)]
        assert len(peers) == 3
        for result in refusals:
            refused_with(result, 403, "MEETING_FULL")
        await drain_all(peers[0])
        # A place freed is a place taken again.
        replacement = await Peer.open(server.ws_url, meeting)
        refused_with(await refusal(server.ws_url, meeting), 403, "MEETING_FULL")
        await drain_all(*peers[1:], replacement)


async def test_handshakes_go_through_the_general_per_ip_rate_limit(
    live_server: LiveServerFactory, clean_redis: Redis
) -> None:
    async with live_server(rate_limit_enabled=True, rate_limit_general_requests=3) as server:
        async with server.http() as http:
            _, _, token = await new_user(http)
            meeting = await new_meeting(http, token)
        await clean_redis.delete("ratelimit:general:127.0.0.1")  # the set-up's requests
        peers = [await Peer.open(server.ws_url, meeting, token=token) for _ in range(3)]
        status, body, headers = await refusal(server.ws_url, meeting, token=token)
        refused_with((status, body, headers), 429, "RATE_LIMIT_EXCEEDED")
        assert int(headers["retry-after"]) >= 1
        assert headers["x-ratelimit-limit"] == "3"
        for peer in peers:  # the open sockets are not affected
            await peer.barrier()
        await drain_all(*peers)


async def test_identity_follows_the_order_token_then_guest_session_then_anonymous(
    live_server: LiveServerFactory,
) -> None:
    async with live_server() as server, server.http() as http:
        _, host_name, host_token = await new_user(http)
        meeting = await new_meeting(http, host_token)
        _, username, token = await new_user(http)
        _, session = await new_guest(http, "Grace Hopper")
        observer = await Peer.open(server.ws_url, meeting, token=host_token, label="host")

        signed_in = await Peer.open(server.ws_url, meeting, token=token, session_id=session)
        joined = await observer.wait_for(
            lambda m: m["type"] == "participant-joined" and m["data"]["name"] == username
        )
        assert joined["data"]["isAuthenticated"] is True

        guest = await Peer.open(server.ws_url, meeting, token="not-a-jwt", session_id=session)
        joined = await observer.wait_for(
            lambda m: m["type"] == "participant-joined" and m["data"]["name"] == "Grace Hopper"
        )
        assert joined["data"]["isAuthenticated"] is False

        known = {m["from"] for m in observer.of_type("participant-joined")}
        before = await public_users(server)
        anonymous = await Peer.open(server.ws_url, meeting, session_id="unknown-session")
        joined = await observer.wait_for(
            lambda m: m["type"] == "participant-joined" and m["from"] not in known
        )
        assert re.fullmatch(r"Guest[0-9A-Z]{4}", joined["data"]["name"]), joined
        assert joined["data"]["isAuthenticated"] is False
        assert "avatarUrl" not in joined["data"]
        assert await public_users(server) == before  # an unknown session creates nothing
        # Every participant-joined carries the fields of §6.5, with participantId == from.
        for message in observer.of_type("participant-joined"):
            assert message["data"]["participantId"] == message["from"]
            assert message["data"]["name"] and message["data"]["name"] != "Anonymous User"
        assert host_name not in {m["data"]["name"] for m in observer.of_type("participant-joined")}
        await drain_all(observer, signed_in, guest, anonymous)


async def public_users(server: Any) -> int:
    async with server.app.state.sessionmaker() as session:
        count: int = await session.scalar(select(func.count()).select_from(PublicUser))
        return count


async def test_a_revoked_a_refresh_or_an_expired_token_is_not_signed_in(
    live_server: LiveServerFactory,
) -> None:
    """A token that REST would refuse only moves on to the next rule (§6.1)."""
    async with live_server() as server, server.http() as http:
        user_id, username, token = await new_user(http)
        meeting = await new_meeting(http, token)
        observer = await Peer.open(server.ws_url, meeting, label="observer")
        settings = server.settings
        refresh = create_token(settings, uuid.UUID(user_id), TokenType.REFRESH, 0)
        expired = create_token(
            settings.model_copy(update={"jwt_access_token_expiry": -60.0}),
            uuid.UUID(user_id),
            TokenType.ACCESS,
            0,
        )
        assert (await http.post("/api/v1/auth/logout", headers=bearer(token))).status_code == 200
        peers = []
        # Revoked by the logout, of the wrong type, expired: each with a guest session.
        for label, bad in (("Revoked", token), ("Refresh", refresh), ("Expired", expired)):
            _, session = await new_guest(http, f"Guest {label}")
            peers.append(await Peer.open(server.ws_url, meeting, token=bad, session_id=session))
            joined = await observer.wait_for(
                lambda m, name=f"Guest {label}": (
                    m["type"] == "participant-joined" and m["data"]["name"] == name
                )
            )
            assert joined["data"]["isAuthenticated"] is False
        # Without a session, the same token is an anonymous caller.
        peers.append(await Peer.open(server.ws_url, meeting, token=token))
        await observer.wait_for(lambda _: len(observer.of_type("participant-joined")) == 4)
        names = [m["data"]["name"] for m in observer.of_type("participant-joined")]
        assert username not in names
        assert re.fullmatch(r"Guest[0-9A-Z]{4}", names[-1])
        await drain_all(observer, *peers)


async def test_spellings_of_one_meeting_id_share_one_room(live_server: LiveServerFactory) -> None:
    async with live_server() as server, server.http() as http:
        _, _, token = await new_user(http)
        meeting = await new_meeting(http, token)
        _, session = await new_guest(http, "Upper")
        lower = await Peer.open(server.ws_url, meeting)
        upper = await Peer.open(server.ws_url, meeting.upper(), session_id=session)
        await lower.joined("Upper")
        assert {m["meetingId"] for m in lower.seen + upper.seen} == {meeting}
        await drain_all(lower, upper)
