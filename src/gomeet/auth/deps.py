"""`CurrentUser` / `AdminUser`: the caller, from the Bearer access token and the profile cache."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gomeet.auth.schemas import Principal
from gomeet.auth.security import InvalidToken, TokenClaims, TokenType, decode_token
from gomeet.auth.service import AuthService, TokenRevoked
from gomeet.db import database_unavailable
from gomeet.deps import CacheDep, SettingsDep, UnitOfWorkDep
from gomeet.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="the access token from login or register")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}

__all__ = ["AdminUser", "CurrentUser", "Principal", "SignedIn", "get_auth_service"]


def get_auth_service(uow: UnitOfWorkDep, cache: CacheDep, settings: SettingsDep) -> AuthService:
    return AuthService(uow, cache, settings)


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def get_current_user(
    request: Request,
    settings: SettingsDep,
    service: AuthServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized(headers=_CHALLENGE)
    # The rate limiter may already have decoded (and verified) this very token.
    claims = getattr(request.state, "access_claims", None)
    if not isinstance(claims, TokenClaims) or claims.token_type is not TokenType.ACCESS:
        try:
            claims = decode_token(settings, credentials.credentials, TokenType.ACCESS)
        except Unauthorized as exc:
            exc.headers = _CHALLENGE
            raise
    profile = await service.cached_profile(claims.user_id)
    if profile is None:
        raise InvalidToken("The user of this token no longer exists", headers=_CHALLENGE)
    principal = Principal.from_profile(profile)
    if principal.token_version != claims.token_version:
        raise TokenRevoked(headers=_CHALLENGE)
    return principal


async def require_signed_in(
    request: Request,
    settings: SettingsDep,
    service: AuthServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """For public-grade reads that must outlive a total outage (`/feature-flags/config`):
    the full check while the user store answers; while neither the database nor the
    cache can, a correctly signed, unexpired access token is enough (revocation cannot be
    checked then, and nothing private is served)."""
    try:
        await get_current_user(request, settings, service, credentials)
    except Exception as exc:
        if not database_unavailable(exc):
            raise


async def require_admin(user: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    if not user.is_admin:
        raise Forbidden("Administrator role required")
    return user


CurrentUser = Annotated[Principal, Depends(get_current_user)]
SignedIn = Depends(require_signed_in)
AdminUser = Annotated[Principal, Depends(require_admin)]
