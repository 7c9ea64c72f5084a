"""Redis-backed rate limiting: a sliding log per bucket, checked in one atomic round trip.

Why a sliding log (a sorted set of request times per key) rather than a two-window counter:
it is exact (never lets `limit + 1` requests into any window, which the counter's
interpolation can), it gives an exact `Retry-After` (when the oldest counted request leaves
the window), and its memory is bounded by the limit, because refused requests are not
recorded. The largest set is one user's 1000 entries, a few tens of kB.

One Lua script checks every bucket of a request (e.g. `auth` and `general` for a login) with
the Redis server's clock, so several app instances share one timeline: it trims each set,
refuses if any bucket is full (recording nothing), otherwise records the request in all.
Buckets and keys (`ratelimit:{bucket}:{id}`):

- `general`: per client IP, for requests without a valid access token;
- `auth`: per client IP, on the `/auth/*` endpoints that take or change credentials
  (register, login, refresh, logout, check-password-strength, update-password, which checks
  the current password and so could be used to guess it, and update-profile), on top of the
  general or the per-user bucket. `GET /auth/me` is left out on purpose: it is the read path
  a client calls on every page (served from the cached profile, checking no credential), so
  5/min would break normal use; the per-user `authenticated` limit applies to it;
- `authenticated`: per user, for requests carrying a valid access token: correctly signed,
  unexpired, and not known to be revoked (the cached `user:profile` entry, from this
  process's tier or Redis, holds another token version; no database query). A revoked
  token counts against the `general` bucket of its IP (see `_not_known_revoked`).

WebSocket handshakes (the signaling socket) go through the `general` bucket of their IP,
whatever they carry (CONTRACT §6.9); a refused one is answered 429 before the upgrade.

With Redis unreachable the limiter fails open: the request goes through, a warning is logged
(at most one per interval), and Redis is not asked again for a short back-off.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from starlette._utils import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gomeet.auth.security import TokenClaims, TokenType, decode_token
from gomeet.cache import MISSING, CacheRepository, keys
from gomeet.config import Settings
from gomeet.errors import RateLimited, Unauthorized, error_body
from gomeet.responses import JsonResponse, deny_websocket

log = structlog.get_logger("gomeet.ratelimit")

EXEMPT_PATHS = frozenset({"/api/health", "/api/health/live", "/metrics"})
CREDENTIAL_PATHS = frozenset(
    f"/api/v1/auth/{name}"
    for name in (
        "register",
        "login",
        "refresh",
        "logout",
        "check-password-strength",
        "update-password",
        "update-profile",
    )
)
# The messages that start a response (and carry its headers), HTTP or WebSocket.
_RESPONSE_STARTS = frozenset(
    {"http.response.start", "websocket.accept", "websocket.http.response.start"}
)
FAIL_OPEN_BACKOFF_S = 1.0
WARNING_INTERVAL_S = 30.0

# KEYS: one sorted set per bucket. ARGV: a unique member, then (limit, window ms) per key.
# Returns {allowed, index of the bucket reported (1-based), remaining, reset in ms from now}.
SLIDING_LOG_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counts = {}
local denied, wait = 0, 0
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  counts[i] = count
  if count >= limit then
    local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local free_in = tonumber(entry[2]) + window - now
    if free_in > wait then denied, wait = i, free_in end
  end
end
if denied > 0 then return {0, denied, 0, wait} end
local best, best_remaining, best_reset = 1, nil, 0
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, window)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local remaining = limit - counts[i] - 1
  if best_remaining == nil or remaining < best_remaining then
    best, best_remaining, best_reset = i, remaining, tonumber(oldest[2]) + window - now
  end
end
return {1, best, best_remaining, best_reset}
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    limit: int
    window_s: float

    def key(self, identity: str) -> str:
        return f"ratelimit:{self.name}:{identity}"

    @property
    def window_ms(self) -> int:
        return max(1, round(self.window_s * 1000))


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    window_s: float
    remaining: int
    reset_after_s: float

    def headers(self) -> list[tuple[bytes, bytes]]:
        """`X-RateLimit-Reset` is the Unix time (s) at which the next request is admitted."""
        reset_at = math.ceil(time.time() + self.reset_after_s)
        headers = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(max(0, self.remaining)).encode()),
            (b"x-ratelimit-reset", str(reset_at).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after_s).encode()))
        return headers

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.reset_after_s))


class RateLimiter:
    """Checks a request's buckets against Redis; fails open while Redis is unreachable."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script: AsyncScript = redis.register_script(SLIDING_LOG_LUA)
        self._skip_until = 0.0
        self._last_warning = -math.inf
        self._suppressed = 0

    async def check(self, checks: list[tuple[Bucket, str]]) -> Decision | None:
        """The decision for one request, or None when Redis could not be asked."""
        now = time.monotonic()
        if now < self._skip_until:
            return None
        # A Redis Cluster cannot run one script over keys in different slots: one call each.
        groups = [[c] for c in checks] if isinstance(self.redis, RedisCluster) else [checks]
        try:
            decisions = [await self._check_atomically(group) for group in groups]
        except Exception as exc:  # any Redis failure: let the request through
            self._skip_until = now + FAIL_OPEN_BACKOFF_S
            self._warn(exc, now)
            return None
        refused = [d for d in decisions if not d.allowed]
        if refused:
            return max(refused, key=lambda d: d.reset_after_s)
        return min(decisions, key=lambda d: d.remaining)

    async def _check_atomically(self, checks: list[tuple[Bucket, str]]) -> Decision:
        args: list[Any] = [uuid.uuid4().hex]
        for bucket, _ in checks:
            args += [bucket.limit, bucket.window_ms]
        keys = [bucket.key(identity) for bucket, identity in checks]
        allowed, index, remaining, reset_ms = await self._script(keys=keys, args=args)
        bucket = checks[int(index) - 1][0]
        return Decision(
            bool(allowed), bucket.limit, bucket.window_s, int(remaining), int(reset_ms) / 1000
        )

    def _warn(self, exc: Exception, now: float) -> None:
        if now - self._last_warning < WARNING_INTERVAL_S:
            self._suppressed += 1
            return
        log.warning(
            "rate_limit_unavailable",
            error=f"{type(exc).__name__}: {exc}",
            suppressed=self._suppressed,
            msg="Redis unreachable: rate limiting fails open",
        )
        self._last_warning, self._suppressed = now, 0


async def _not_known_revoked(scope: Scope, claims: TokenClaims) -> bool:
    """False when the cached profile shows another token version than the token's: revoked.

    Only the cache is asked (this process's tier, else one Redis GET; never the database).
    A profile that is not cached is taken as current: the auth dependency loads and caches
    it during this very request, so a revoked token is charged to its user's bucket at most
    once per fill of that profile, and the IP's bucket from then on. Taking it as revoked
    would lock a signed-in user out whenever their IP's bucket is full: their request would
    be refused before anything could cache the profile that proves them current.

    A cached profile is kept in `scope["state"]["access_profile"]`: it is this request's
    read of the caller's profile (counted as a hit), which the auth dependency uses instead
    of reading the key a second time.
    """
    cache: CacheRepository = scope["app"].state.cache
    profile = await cache.cached(keys.user_profile(claims.user_id))
    if profile is MISSING:
        return True
    scope["state"]["access_profile"] = profile
    return not isinstance(profile, dict) or profile.get("tokenVersion") == claims.token_version


def _bearer_token(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and token:
                return token
    return None


class RateLimitMiddleware:
    """Pure ASGI: picks the buckets of a request, answers 429 or adds `X-RateLimit-*`.

    A valid, unrevoked access token selects the caller's user bucket. Paths are compared
    below the deployment's `root_path`, as routing compares them.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        s = settings
        self.general = Bucket("general", s.rate_limit_general_requests, s.rate_limit_general_window)
        self.auth = Bucket("auth", s.rate_limit_auth_requests, s.rate_limit_auth_window)
        self.user = Bucket(
            "authenticated", s.rate_limit_authenticated_requests, s.rate_limit_authenticated_window
        )
        self._limiter: RateLimiter | None = None

    def _limiter_for(self, scope: Scope) -> RateLimiter:
        redis: Redis = scope["app"].state.redis
        if self._limiter is None or self._limiter.redis is not redis:
            self._limiter = RateLimiter(redis)
        return self._limiter

    async def _checks(self, scope: Scope, path: str) -> list[tuple[Bucket, str]]:
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if scope["type"] == "websocket":
            return [(self.general, ip)]
        checks = [(self.auth, ip)] if path in CREDENTIAL_PATHS else []
        claims = self._claims(scope)
        if claims is not None and await _not_known_revoked(scope, claims):
            return [*checks, (self.user, str(claims.user_id))]
        return [*checks, (self.general, ip)]

    def _claims(self, scope: Scope) -> TokenClaims | None:
        """The verified claims of the request's access token, kept in
        `scope["state"]["access_claims"]` so that the auth dependency need not decode it
        again (it checks revocation itself); None without a correctly signed one."""
        token = _bearer_token(scope)
        if token is None:
            return None
        try:
            claims = decode_token(self.settings, token, TokenType.ACCESS)
        except Unauthorized:
            return None
        scope.setdefault("state", {})["access_claims"] = claims
        return claims

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = get_route_path(scope)  # what routing matches: the path below any root_path
        if path in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if not self.settings.rate_limit_enabled:
            self._claims(scope)
            await self.app(scope, receive, send)
            return
        checks = await self._checks(scope, path)
        decision = await self._limiter_for(scope).check(checks)
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            error = RateLimited(f"Too many requests, retry in {decision.retry_after_s} s")
            details = {
                "retryAfter": decision.retry_after_s,
                "limit": decision.limit,
                "windowSeconds": int(w) if (w := decision.window_s).is_integer() else w,
            }
            response = JsonResponse(
                error_body(error.code, error.message, details), status_code=error.status_code
            )
            response.raw_headers.extend(decision.headers())
            if scope["type"] == "websocket":
                await deny_websocket(scope, receive, send, response)
            else:
                await response(scope, receive, send)
            return
        headers = decision.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] in _RESPONSE_STARTS:
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
