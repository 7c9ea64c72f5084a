"""`CurrentUser` / `AdminUser`: the caller, from the Bearer access token and the profile cache."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gomeet.auth.schemas import Principal
from gomeet.auth.security import InvalidToken, TokenClaims, TokenType, WrongTokenType, decode_token
from gomeet.auth.service import AuthService, TokenRevoked
from gomeet.cache import MISSING, Missing
from gomeet.config import Settings
from gomeet.db import database_unavailable
from gomeet.deps import UnitOfWorkDep
from gomeet.errors import Forbidden, Unauthorized
from gomeet.openapi import raises

_bearer = HTTPBearer(auto_error=False, description="the access token from login or register")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# What a request with a missing, invalid, expired, refresh-type or revoked token gets.
AUTH_ERRORS = (Unauthorized, InvalidToken, WrongTokenType, TokenRevoked)

__all__ = [
    "AdminUser",
    "CurrentUser",
    "OptionalUser",
    "Principal",
    "SignedIn",
    "authenticate",
    "get_auth_service",
]


async def get_auth_service(request: Request, uow: UnitOfWorkDep) -> AuthService:
    # The cache and the settings from the app, not as dependencies of their own: every
    # dependency is solved anew per request, and this one runs on every signed-in request.
    state = request.app.state
    return AuthService(uow, state.cache, state.settings)


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def authenticate(
    settings: Settings,
    service: AuthService,
    token: str,
    claims: TokenClaims | None = None,
    profile: dict[str, Any] | Missing | None = MISSING,
) -> Principal:
    """The caller of an access token, under the one set of rules for every way a token
    arrives (REST bearer header, WebSocket query): signature, expiry, type `access`, a user
    that exists, and not revoked (the cached profile's token version). `claims` may be the
    already verified claims of this very token, and `profile` its user's profile as this
    request already read it from the cache. Raises `Unauthorized`."""
    if claims is None or claims.token_type is not TokenType.ACCESS:
        claims, profile = decode_token(settings, token, TokenType.ACCESS), MISSING
    if profile is MISSING:
        profile = await service.cached_profile(claims.user_id)
    if profile is None:
        raise InvalidToken("The user of this token no longer exists")
    principal = Principal.from_profile(profile)
    if principal.token_version != claims.token_version:
        raise TokenRevoked()
    return principal


@raises(*AUTH_ERRORS)
async def get_current_user(
    request: Request,
    service: AuthServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized(headers=_CHALLENGE)
    # The rate limiter may already have decoded (and verified) this very token, and read
    # its user's profile from the cache.
    claims = getattr(request.state, "access_claims", None)
    known = isinstance(claims, TokenClaims)
    try:
        return await authenticate(
            service.settings,
            service,
            credentials.credentials,
            claims if known else None,
            getattr(request.state, "access_profile", MISSING) if known else MISSING,
        )
    except Unauthorized as exc:
        exc.headers = _CHALLENGE
        raise


@raises(*AUTH_ERRORS)
async def get_optional_user(
    request: Request,
    service: AuthServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller, or None without an `Authorization` header. A header that is present
    must hold a valid access token: anything else is a 401, as on every endpoint."""
    if "authorization" not in request.headers:
        return None
    return await get_current_user(request, service, credentials)


@raises(*AUTH_ERRORS)
async def require_signed_in(
    request: Request,
    service: AuthServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """For public-grade reads that must outlive a total outage (`/feature-flags/config`):
    the full check while the user store answers; while neither the database nor the
    cache can, a correctly signed, unexpired access token is enough (revocation cannot be
    checked then, and nothing private is served)."""
    try:
        await get_current_user(request, service, credentials)
    except Exception as exc:
        if not database_unavailable(exc):
            raise


@raises(Forbidden("Administrator role required"))
async def require_admin(user: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    if not user.is_admin:
        raise Forbidden("Administrator role required")
    return user


CurrentUser = Annotated[Principal, Depends(get_current_user)]
OptionalUser = Annotated[Principal | None, Depends(get_optional_user)]
SignedIn = Depends(require_signed_in)
AdminUser = Annotated[Principal, Depends(require_admin)]
