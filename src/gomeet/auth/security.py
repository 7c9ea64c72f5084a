"""Password hashing (argon2id, off the event loop) and JWT access/refresh tokens.

Tokens carry `sub` (user id), `typ` (access|refresh), `ver` (the user's token_version, bumped
by logout and password change), `iat`, `exp` and `jti` (for refresh tokens: the id of its
`refresh_tokens` row, which makes each refresh token single-use).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

import anyio.to_thread
import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from gomeet.config import Settings
from gomeet.errors import Unauthorized

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "typ", "ver", "iat", "exp", "jti"]


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    token_type: TokenType
    token_version: int


@dataclass(frozen=True)
class RefreshClaims:
    """A decoded refresh token: its claims plus the `jti` that names its database row."""

    claims: TokenClaims
    jti: uuid.UUID


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: uuid.UUID
    expires_at: datetime


class InvalidToken(Unauthorized):
    code = "AUTH_002"
    message = "Invalid or expired token"


class WrongTokenType(Unauthorized):
    code = "AUTH_004"
    message = "Wrong token type"


def _expiry(settings: Settings, token_type: TokenType) -> timedelta:
    seconds = (
        settings.jwt_access_token_expiry
        if token_type is TokenType.ACCESS
        else settings.jwt_refresh_token_expiry
    )
    return timedelta(seconds=seconds)


def issue_token(
    settings: Settings, user_id: uuid.UUID, token_type: TokenType, token_version: int
) -> IssuedToken:
    """A signed token with its `jti` and expiry (the refresh flow stores both)."""
    now = datetime.now(UTC)
    jti = uuid.uuid4()
    expires_at = now + _expiry(settings, token_type)
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "typ": token_type.value,
        "ver": token_version,
        "iat": now,
        "exp": expires_at,
        "jti": str(jti),
    }
    token = jwt.encode(payload, settings.effective_jwt_secret, algorithm=ALGORITHM)
    return IssuedToken(token=token, jti=jti, expires_at=expires_at)


def create_token(
    settings: Settings, user_id: uuid.UUID, token_type: TokenType, token_version: int
) -> str:
    return issue_token(settings, user_id, token_type, token_version).token


VERIFIED_TOKENS = 4096  # tokens whose signature and claims are remembered, per process


@lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(secret: str, token: str) -> tuple[TokenClaims, str, float]:
    """The claims, `jti` and expiry of a correctly signed token, parsed once per token: a
    client sends the same access token with every request. Only successes are remembered
    (an error is raised again on the next call); expiry is checked by the caller."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": _REQUIRED_CLAIMS}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("Token has expired") from None
    except jwt.InvalidTokenError:
        raise InvalidToken() from None
    try:
        user_id = uuid.UUID(str(payload["sub"]))
        token_type = TokenType(payload["typ"])
        version = payload["ver"]
    except ValueError:
        raise InvalidToken() from None
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidToken()
    return TokenClaims(user_id, token_type, version), str(payload["jti"]), float(payload["exp"])


def _decode(settings: Settings, token: str, expected: TokenType) -> tuple[TokenClaims, str]:
    claims, jti, expires = _verified(settings.effective_jwt_secret, token)
    if expires <= time.time():  # as PyJWT judges it: expired at `exp`, no leeway
        raise InvalidToken("Token has expired")
    if claims.token_type is not expected:
        raise WrongTokenType(f"An {expected.value} token is required")
    return claims, jti


def decode_token(settings: Settings, token: str, expected: TokenType) -> TokenClaims:
    """Verify signature, expiry and type; raises `Unauthorized` (AUTH_002 / AUTH_004)."""
    return _decode(settings, token, expected)[0]


def decode_refresh_token(settings: Settings, token: str) -> RefreshClaims:
    claims, jti = _decode(settings, token, TokenType.REFRESH)
    try:
        return RefreshClaims(claims, uuid.UUID(jti))
    except ValueError:
        raise InvalidToken() from None


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, type=Type.ID)


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    """A hash with the configured cost, verified for unknown e-mails so login costs the same."""
    return _hasher(time_cost, memory_kib).hash("gomeet-dummy-password")


def password_hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)


async def hash_password(settings: Settings, password: str) -> str:
    return await anyio.to_thread.run_sync(password_hasher(settings).hash, password)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(settings: Settings, password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash (unknown user) a dummy hash is verified and False returned."""
    hasher = password_hasher(settings)
    if password_hash is None:
        dummy = await anyio.to_thread.run_sync(
            _dummy_hash, settings.password_hash_time_cost, settings.password_hash_memory_kib
        )
        await anyio.to_thread.run_sync(_verify, hasher, dummy, password)
        return False
    return await anyio.to_thread.run_sync(_verify, hasher, password_hash, password)


def needs_rehash(settings: Settings, password_hash: str) -> bool:
    """True when the hash was made with other cost parameters than the configured ones."""
    try:
        return password_hasher(settings).check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
