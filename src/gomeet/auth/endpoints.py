"""`/api/v1/auth/*`: thin endpoints; the rules live in `AuthService`."""

from __future__ import annotations

from fastapi import APIRouter

from gomeet.auth.deps import AuthServiceDep, CurrentUser
from gomeet.auth.password_policy import WeakPassword
from gomeet.auth.schemas import (
    AuthResult,
    LoginRequest,
    PasswordStrengthOut,
    PasswordStrengthRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UpdatePasswordRequest,
    UpdateProfileRequest,
    UserData,
)
from gomeet.auth.security import InvalidToken, WrongTokenType
from gomeet.auth.service import EmailTaken, InvalidCredentials, TokenRevoked, WrongPassword
from gomeet.deps import UnitOfWorkRoute
from gomeet.openapi import Envelope, raises
from gomeet.responses import JsonResponse, ok

router = APIRouter(route_class=UnitOfWorkRoute)


@router.post("/register", status_code=201, response_model=Envelope[AuthResult])
@raises(EmailTaken, WeakPassword)
async def register(body: RegisterRequest, service: AuthServiceDep) -> JsonResponse:
    result = await service.register(body)
    return ok(result.to_json(), "User registered", status_code=201)


@router.post("/login", response_model=Envelope[AuthResult])
@raises(InvalidCredentials)
async def login(body: LoginRequest, service: AuthServiceDep) -> JsonResponse:
    result = await service.login(body)
    return ok(result.to_json(), "Logged in")


@router.post("/refresh", response_model=Envelope[TokenPair])
@raises(InvalidToken, WrongTokenType, TokenRevoked)
async def refresh(body: RefreshRequest, service: AuthServiceDep) -> JsonResponse:
    pair = await service.refresh(body.refresh_token)
    return ok(pair.to_json(), "Tokens refreshed")


@router.post("/logout", response_model=Envelope[None])
async def logout(user: CurrentUser, service: AuthServiceDep) -> JsonResponse:
    await service.logout(user)
    return ok(None, "Logged out")


@router.post("/check-password-strength", response_model=Envelope[PasswordStrengthOut])
async def check_password_strength(
    body: PasswordStrengthRequest, service: AuthServiceDep
) -> JsonResponse:
    report = await service.check_password_strength(body)
    return ok(report.to_json(), "Password strength checked")


@router.get("/me", response_model=Envelope[UserData])
async def me(user: CurrentUser) -> JsonResponse:
    return ok({"user": user.user_json()})


@router.put("/update-profile", response_model=Envelope[UserData])
@raises(EmailTaken)
async def update_profile(
    body: UpdateProfileRequest, user: CurrentUser, service: AuthServiceDep
) -> JsonResponse:
    updated = await service.update_profile(user, body)
    return ok({"user": updated.to_json()}, "Profile updated")


@router.put("/update-password", response_model=Envelope[TokenPair])
@raises(WrongPassword, WeakPassword)
async def update_password(
    body: UpdatePasswordRequest, user: CurrentUser, service: AuthServiceDep
) -> JsonResponse:
    pair = await service.update_password(user, body)
    return ok(pair.to_json(), "Password updated; other sessions were signed out")
