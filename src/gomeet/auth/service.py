"""Auth rules: registration, login, token rotation and revocation, profile and password.

Revocation is one mechanism: bumping the user's `token_version`. Every token carries the
version it was issued with and is refused once it differs (logout, password change, refresh
token reuse). Each refresh token is single-use: its row is marked used by one conditional
UPDATE. Presenting a used one again within `JWT_REFRESH_REUSE_LEEWAY` (30 s) of its rotation
is refused and changes nothing: two tabs racing, or a client that kept the old token, lose
one refresh, not every session. Later, reuse is treated as theft and revokes everything.
"""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

from sqlalchemy.exc import IntegrityError

from gomeet.auth import password_policy
from gomeet.auth.models import User
from gomeet.auth.repository import RefreshTokenRepository, UserRepository
from gomeet.auth.schemas import (
    AuthResult,
    LoginRequest,
    PasswordStrengthRequest,
    Principal,
    RegisterRequest,
    TokenPair,
    UpdatePasswordRequest,
    UpdateProfileRequest,
    UserOut,
    UserProfile,
)
from gomeet.auth.security import (
    InvalidToken,
    TokenType,
    create_token,
    decode_refresh_token,
    hash_password,
    issue_token,
    needs_rehash,
    verify_password,
)
from gomeet.cache import CacheRepository, keys
from gomeet.changes import UserChanged
from gomeet.config import Settings
from gomeet.db import UnitOfWork, utcnow
from gomeet.errors import AppError, Conflict, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "AUTH_001"
    message = "Invalid e-mail or password"


class EmailTaken(Conflict):
    code = "AUTH_003"
    message = "This e-mail address is already registered"


class TokenRevoked(Unauthorized):
    code = "AUTH_005"
    message = "Token has been revoked"


class RefreshTokenRotated(Unauthorized):
    code = "REFRESH_TOKEN_ROTATED"
    message = "This refresh token has just been exchanged for a new pair: use the newest one"


class RefreshTokenReused(TokenRevoked):
    """Raised after the revocation has been flushed: the unit of work commits it anyway."""

    commit_on_error = True

    message = "Refresh token already used: every session of this user has been revoked"


class WrongPassword(AppError):
    status_code = 400
    code = "AUTH_006"
    message = "The current password is incorrect"


def profile_json(user: User) -> dict[str, Any]:
    """The `user:profile` cache value (no password hash)."""
    return UserProfile.model_validate(user).to_json()


class AuthService:
    def __init__(self, uow: UnitOfWork, cache: CacheRepository, settings: Settings) -> None:
        self.uow = uow
        self.cache = cache
        self.settings = settings

    # Made on first use: the unit of work opens its session for the first query only.
    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self.uow.session)

    @cached_property
    def tokens(self) -> RefreshTokenRepository:
        return RefreshTokenRepository(self.uow.session)

    # -- reads ----------------------------------------------------------------------------

    async def cached_profile(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        """The user's profile through the `user:profile` cache; None if there is no such user."""

        async def load() -> dict[str, Any] | None:
            user = await self.users.get(user_id)
            return profile_json(user) if user else None

        profile: dict[str, Any] | None = await self.cache.get_or_load(
            keys.user_profile(user_id), load
        )
        return profile

    async def check_password_strength(
        self, body: PasswordStrengthRequest
    ) -> password_policy.StrengthReport:
        return await password_policy.evaluate_async(body.password, body.username)

    # -- credentials and tokens -----------------------------------------------------------

    async def register(self, body: RegisterRequest) -> AuthResult:
        await password_policy.enforce(body.password, body.username)
        if await self.users.email_taken(body.email):
            raise EmailTaken()
        user = User(
            username=body.username,
            email=body.email,
            password_hash=await hash_password(self.settings, body.password),
        )
        try:
            await self.users.add(user)
        except IntegrityError:  # a concurrent registration with the same e-mail won
            raise EmailTaken() from None
        return await self._authenticated(user)

    async def login(self, body: LoginRequest) -> AuthResult:
        user = await self.users.get_by_email(body.email)
        # Unknown e-mail: a dummy hash is verified, so both paths do the same hashing work.
        if not await verify_password(
            self.settings, user.password_hash if user else None, body.password
        ):
            raise InvalidCredentials()
        assert user is not None
        if needs_rehash(self.settings, user.password_hash):
            user.password_hash = await hash_password(self.settings, body.password)
            await self.uow.session.flush()
        return await self._authenticated(user)

    async def refresh(self, refresh_token: str) -> TokenPair:
        presented = decode_refresh_token(self.settings, refresh_token)
        user = await self.users.get(presented.claims.user_id)
        if user is None:
            raise InvalidToken()
        if presented.claims.token_version != user.token_version:
            raise TokenRevoked()
        now = utcnow()
        if not await self.tokens.mark_used(presented.jti, user.id, now):
            # A concurrent refresh that won with this token has committed by now (our UPDATE
            # waited for its row lock, or for SQLite's write lock), so this read sees it.
            rotated_at = await self.tokens.used_at(presented.jti)
            if rotated_at is None:
                raise InvalidToken()
            if (now - rotated_at).total_seconds() <= self.settings.jwt_refresh_reuse_leeway:
                raise RefreshTokenRotated()
            await self._revoke_all(user.id)
            raise RefreshTokenReused()
        return await self._issue_pair(user.id, user.token_version)

    async def logout(self, principal: Principal) -> None:
        await self._revoke_all(principal.id)

    # -- profile and password -------------------------------------------------------------

    async def update_profile(self, principal: Principal, body: UpdateProfileRequest) -> UserOut:
        user = await self._user(principal)
        fields = body.model_fields_set
        if "email" in fields and body.email is not None and body.email != user.email:
            if await self.users.email_taken(body.email, by_other_than=user.id):
                raise EmailTaken()
            user.email = body.email
        embedded = (user.username, user.avatar_url)
        if "username" in fields and body.username is not None:
            user.username = body.username
        if "avatar_url" in fields:
            user.avatar_url = body.avatar_url
        try:
            await self.uow.session.flush()
        except IntegrityError:  # the e-mail was taken concurrently
            raise EmailTaken() from None
        # Meetings show their host's and participants' current username and avatar.
        self.uow.record(UserChanged(user.id, shown=(user.username, user.avatar_url) != embedded))
        return UserOut.model_validate(user)

    async def update_password(self, principal: Principal, body: UpdatePasswordRequest) -> TokenPair:
        """Changes the password, revokes every earlier token, and returns a fresh pair."""
        user = await self._user(principal)
        if not await verify_password(self.settings, user.password_hash, body.current_password):
            raise WrongPassword()
        await password_policy.enforce(body.new_password, user.username)
        user.password_hash = await hash_password(self.settings, body.new_password)
        await self.uow.session.flush()
        version = await self._revoke_all(user.id)
        return await self._issue_pair(user.id, version)

    # -- helpers --------------------------------------------------------------------------

    async def _user(self, principal: Principal) -> User:
        user = await self.users.get(principal.id)
        if user is None:  # deleted since the token was checked
            raise InvalidToken()
        return user

    async def _authenticated(self, user: User) -> AuthResult:
        pair = await self._issue_pair(user.id, user.token_version)
        return AuthResult(
            user=UserOut.model_validate(user),
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
        )

    async def _issue_pair(self, user_id: uuid.UUID, token_version: int) -> TokenPair:
        now = utcnow()
        await self.tokens.delete_expired(user_id, now)
        refresh = issue_token(self.settings, user_id, TokenType.REFRESH, token_version)
        await self.tokens.add(refresh.jti, user_id, refresh.expires_at)
        access = create_token(self.settings, user_id, TokenType.ACCESS, token_version)
        return TokenPair(access_token=access, refresh_token=refresh.token)

    async def _revoke_all(self, user_id: uuid.UUID) -> int:
        """Bump token_version and drop the refresh token rows; returns the new version."""
        version = await self.users.bump_token_version(user_id)
        await self.tokens.delete_for_user(user_id)
        self.uow.record(UserChanged(user_id))  # the cached profile holds the token version
        return version
