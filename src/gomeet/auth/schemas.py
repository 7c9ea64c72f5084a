"""Auth request bodies, the User shape, and the `Principal` that authenticated requests get."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, StringConstraints, model_validator

from gomeet.auth.models import Role
from gomeet.auth.password_policy import MAX_LENGTH as PASSWORD_MAX_LENGTH
from gomeet.schemas import AvatarUrl, CamelModel, RequestModel, SingleLineText

EMAIL_MAX_LENGTH = 254


def normalise_email(value: str) -> str:
    """Syntax-checked (no DNS lookup) and lower-cased: e-mail is case-insensitive."""
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


Username = Annotated[
    SingleLineText,
    StringConstraints(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_.\-]+$"),
]
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=EMAIL_MAX_LENGTH),
    AfterValidator(normalise_email),
]
# Passwords are taken exactly as typed: never stripped.
Password = Annotated[
    str, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH, strip_whitespace=False)
]


class RegisterRequest(RequestModel):
    username: Username
    email: Email
    password: Password


class LoginRequest(RequestModel):
    email: Email
    password: Password


class RefreshRequest(RequestModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class PasswordStrengthRequest(RequestModel):
    password: Password
    username: Annotated[SingleLineText, StringConstraints(max_length=50)] | None = None


class UpdateProfileRequest(RequestModel):
    """Absent fields are left alone; `avatarUrl: null` (or "") removes the avatar."""

    username: Username | None = None
    email: Email | None = None
    avatar_url: AvatarUrl | None = None

    @model_validator(mode="after")
    def _no_null_username_or_email(self) -> UpdateProfileRequest:
        for name in ("username", "email"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class UpdatePasswordRequest(RequestModel):
    current_password: Password
    new_password: Password


class UserOut(CamelModel):
    """The public User shape: never a password hash."""

    id: uuid.UUID
    username: str
    email: str
    avatar_url: str | None
    role: str
    created_at: datetime


class UserProfile(UserOut):
    """What the `user:profile` cache holds: the User shape plus the token version."""

    token_version: int


class TokenPair(CamelModel):
    access_token: str
    refresh_token: str


class AuthResult(TokenPair):
    user: UserOut


class UserData(CamelModel):
    """`data` of `/auth/me` and `/auth/update-profile`."""

    user: UserOut


class PasswordViolationOut(CamelModel):
    code: str
    message: str


class PasswordStrengthOut(CamelModel):
    """`data` of `/auth/check-password-strength` (`StrengthReport.to_json`)."""

    score: int
    meets_policy: bool
    warning: str
    suggestions: list[str]
    violations: list[PasswordViolationOut]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, built from the cached profile."""

    id: uuid.UUID
    username: str
    email: str
    avatar_url: str | None
    role: str
    token_version: int
    created_at: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> Principal:
        return cls(
            id=uuid.UUID(profile["id"]),
            username=profile["username"],
            email=profile["email"],
            avatar_url=profile["avatarUrl"],
            role=profile["role"],
            token_version=int(profile["tokenVersion"]),
            created_at=profile["createdAt"],
        )

    def user_json(self) -> dict[str, Any]:
        """The User shape (what `/auth/me` sends)."""
        return {
            "id": str(self.id),
            "username": self.username,
            "email": self.email,
            "avatarUrl": self.avatar_url,
            "role": self.role,
            "createdAt": self.created_at,
        }
