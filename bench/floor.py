"""`python -m bench.floor --port P`: the floor of a cached authenticated read.

A bare FastAPI app doing the same work as our `GET /api/v1/meetings/{id}` on a cache hit,
on the same data in the same Redis: decode the JWT (signature, expiry), one `MGET` for the
caller's profile and the meeting, check the token's version against the profile (the
revocation check) and that the caller is the host or a participant, send the envelope.
Nothing else: no request id, log record, metrics, rate limit, database session or
validation. The api-floor scenario runs it side by side with ours; ours ÷ floor is what
the framework-and-features overhead costs.

It serves `GET /__bench/counters` (zeros) so that the harness starts it like ours.
"""

from __future__ import annotations

import os
from typing import Any

import jwt
import orjson
from fastapi import FastAPI, Header
from fastapi.responses import Response
from redis.asyncio import Redis

from gomeet.cache.codec import decode


def _error(status: int, code: str) -> Response:
    body = {"success": False, "error": {"code": code, "message": code, "details": None}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def create_floor_app() -> FastAPI:
    secret = os.environ["JWT_SECRET"]
    redis = Redis.from_url(os.environ["REDIS_URL"])
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/api/v1/meetings/{meeting_id}")
    async def get_meeting(meeting_id: str, authorization: str = Header("")) -> Response:
        try:
            claims = jwt.decode(authorization.removeprefix("Bearer "), secret, ["HS256"])
        except jwt.InvalidTokenError:
            return _error(401, "AUTH_002")
        user_id = claims["sub"]
        raw_profile, raw_meeting = await redis.mget(  # bytes: no decode_responses
            f"user:profile:{user_id}", f"meeting:details:{meeting_id}"
        )
        profile = decode(raw_profile) if isinstance(raw_profile, bytes) else None
        if profile is None or profile["tokenVersion"] != claims["ver"]:
            return _error(401, "AUTH_002")
        meeting = decode(raw_meeting) if isinstance(raw_meeting, bytes) else None
        if meeting is None:
            return _error(404, "MEETING_NOT_FOUND")  # not cached: the floor has no database
        if meeting["hostId"] != user_id and all(
            p["userId"] != user_id for p in meeting["participants"]
        ):
            return _error(403, "FORBIDDEN")
        envelope = {"success": True, "data": meeting, "message": "Meeting retrieved"}
        return Response(orjson.dumps(envelope), media_type="application/json")

    @app.get("/__bench/counters", include_in_schema=False)
    async def counters() -> dict[str, Any]:
        return {"statements": 0, "checkouts": 0, "cache": {}}

    return app


def main() -> None:
    from bench.server import serve

    serve("bench.floor:create_floor_app", __doc__)


if __name__ == "__main__":
    main()
