"""Domain errors carry a stable code and an HTTP status; one handler renders the envelope."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gomeet.cache import LoadFailed
from gomeet.db import DATABASE_UNAVAILABLE_ERRORS, database_unavailable
from gomeet.responses import JsonResponse

log = structlog.get_logger("gomeet.errors")


class AppError(Exception):
    status_code = 400
    code = "BAD_REQUEST"
    message = "Bad request"
    # True: the request's unit of work commits (instead of rolling back) before the error is
    # answered, for a failure whose side effect must persist (e.g. revoking every session).
    commit_on_error = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class ValidationFailed(AppError):
    status_code = 400
    code = "VALIDATION_ERROR"
    message = "Request validation failed"


class Unauthorized(AppError):
    status_code = 401
    code = "UNAUTHORIZED"
    message = "Authentication required"


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"
    message = "You are not allowed to do this"


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    message = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"
    message = "Conflict"


class RateLimited(AppError):
    status_code = 429
    code = "RATE_LIMIT_EXCEEDED"
    message = "Too many requests"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    message = "The service is temporarily unavailable, please retry"


def parse_uuid(value: str, code: str = "INVALID_ID", what: str = "id") -> uuid.UUID:
    """Parse a path or body id; a malformed one is a 400 with the caller's code."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise ValidationFailed(f"{what} must be a UUID", code=code) from None


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message, "details": details}}


def _json_safe_errors(errors: Any) -> list[dict[str, Any]]:
    safe = []
    for err in errors:
        safe.append(
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
        )
    return safe


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
    503: "SERVICE_UNAVAILABLE",
}


async def _app_error(_: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, AppError)
    return JsonResponse(
        error_body(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_error(_: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestValidationError)
    return JsonResponse(
        error_body(
            "VALIDATION_ERROR", "Request validation failed", _json_safe_errors(exc.errors())
        ),
        status_code=400,
    )


async def _http_error(_: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    return JsonResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _database_error(request: Request, exc: Exception) -> JsonResponse:
    """A database that cannot be reached is a 503 (retry later), not an opaque 500."""
    if not database_unavailable(exc):
        return await _unhandled(request, exc)
    # The driver's own message only: SQLAlchemy's text carries the statement's parameters.
    cause = getattr(exc, "orig", None) or exc
    log.error("database_unavailable", error=f"{type(cause).__name__}: {cause}")
    error = ServiceUnavailable("The database is unavailable, please retry")
    return JsonResponse(error_body(error.code, error.message), status_code=error.status_code)


async def _load_failed(_: Request, exc: Exception) -> JsonResponse:
    """Another instance's load of what this request needs failed (the database, most
    likely): the waiters are told instead of all asking the database again. Retry later."""
    log.warning("cache_load_failed_elsewhere", error=str(exc))
    error = ServiceUnavailable("The data could not be loaded, please retry")
    return JsonResponse(error_body(error.code, error.message), status_code=error.status_code)


async def _unhandled(_: Request, exc: Exception) -> JsonResponse:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return JsonResponse(error_body("INTERNAL_ERROR", "Internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    database_errors: tuple[type[Exception], ...] = (DBAPIError, *DATABASE_UNAVAILABLE_ERRORS)
    for error_type in database_errors:
        app.add_exception_handler(error_type, _database_error)
    app.add_exception_handler(LoadFailed, _load_failed)
    app.add_exception_handler(Exception, _unhandled)
