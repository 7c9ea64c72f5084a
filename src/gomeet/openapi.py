"""The OpenAPI schema documents every status an operation can answer, and every body.

One mechanism for every router:

- Success bodies: `response_model=Envelope[Model]` on the route. Endpoints return a
  `JsonResponse` built from JSON-ready dicts (the cached read path sends the cached JSON as
  it is), and FastAPI never validates or serializes a returned `Response`: the model only
  documents the body, it costs a request nothing.
- Errors: `@raises(ErrorClass, …)` on an endpoint or on any dependency records the
  `AppError`s it can raise. When the schema is built, each operation gets the error
  envelope for the statuses of every error raised along its dependency tree (so an
  endpoint that takes `CurrentUser` documents 401, `AdminUser` 401 and 403, a database
  dependency 503), plus what every route can answer: 400 `VALIDATION_ERROR` instead of
  FastAPI's 422 (the app never answers 422), 429 unless the route is exempt from rate
  limiting, and 500.

A new endpoint documents itself by naming its envelope and the errors of its own rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Literal, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from gomeet.errors import AppError, RateLimited, ValidationFailed
from gomeet.routes import original, served_routes

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
ErrorSpec = type[AppError] | AppError

_RAISES = "__gomeet_raises__"


class Envelope(BaseModel, Generic[T]):
    """`{"success": true, "data": …, "message": …}`."""

    success: Literal[True]
    data: T
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """`{"success": false, "error": {"code", "message", "details"}}`, for every error."""

    success: Literal[False]
    error: ErrorBody


def raises(*errors: ErrorSpec) -> Callable[[F], F]:
    """Record on an endpoint or dependency the errors it can raise (an `AppError` class,
    or an instance for a code of its own, e.g. `ValidationFailed(code="INVALID_MEETING_ID")`)."""

    def mark(func: F) -> F:
        setattr(func, _RAISES, (*getattr(func, _RAISES, ()), *errors))
        return func

    return mark


# What any route can answer, beyond its own errors.
_VALIDATION = ValidationFailed("Request validation failed")
_RATE_LIMITED = RateLimited()
_INTERNAL = AppError("Internal server error", code="INTERNAL_ERROR", status_code=500)
_RATE_LIMIT_HEADERS = {
    name: {"description": description, "schema": {"type": "integer"}}
    for name, description in (
        ("Retry-After", "seconds until a request is admitted again"),
        ("X-RateLimit-Limit", "requests allowed in the window"),
        ("X-RateLimit-Remaining", "requests left in the window"),
        ("X-RateLimit-Reset", "Unix time (s) at which the next request is admitted"),
    )
}


def _declared(dependant: Dependant) -> Iterable[ErrorSpec]:
    yield from getattr(dependant.call, _RAISES, ())
    for sub in dependant.dependencies:
        yield from _declared(sub)


def _error_response(errors: list[ErrorSpec]) -> dict[str, Any]:
    described: dict[str, str] = {}
    for error in errors:
        described.setdefault(error.code, error.message)
    return {
        "description": "; ".join(f"`{code}`: {message}" for code, message in described.items()),
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorEnvelope"},
                "examples": {
                    code: {
                        "summary": message,
                        "value": {
                            "success": False,
                            "error": {"code": code, "message": message, "details": None},
                        },
                    }
                    for code, message in described.items()
                },
            }
        },
    }


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every documented API route as served (prefix included)."""
    for route in served_routes(app):
        if isinstance(original(route), APIRoute) and route.include_in_schema:
            yield route


def _document_errors(operation: dict[str, Any], route: Any, unlimited: frozenset[str]) -> None:
    responses: dict[str, Any] = operation["responses"]
    by_status: defaultdict[int, list[ErrorSpec]] = defaultdict(list)
    if responses.pop("422", None) is not None:  # FastAPI's; the app answers 400 instead
        by_status[400].append(_VALIDATION)
    for error in _declared(route.dependant):
        by_status[error.status_code].append(error)
    if route.path_format not in unlimited:
        by_status[429].append(_RATE_LIMITED)
    by_status[500].append(_INTERNAL)
    for status, errors in sorted(by_status.items()):
        if str(status) in responses:  # documented by the route itself (e.g. /api/health)
            continue
        response = _error_response(errors)
        if status == 429:
            response["headers"] = _RATE_LIMIT_HEADERS
        responses[str(status)] = response
    operation["responses"] = dict(sorted(responses.items()))


def _add_models(schema: dict[str, Any], *models: type[BaseModel]) -> None:
    schemas: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(generated.pop("$defs", {}))
        schemas[model.__name__] = generated
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 bodies
        schemas.pop(unused, None)


def build_schema(app: FastAPI, unlimited: frozenset[str] = frozenset()) -> dict[str, Any]:
    schema = get_openapi(  # what FastAPI.openapi() passes
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        webhooks=app.webhooks.routes,
        tags=app.openapi_tags,
        servers=app.servers,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    for route in _api_routes(app):
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _document_errors(operation, route, unlimited)
    _add_models(schema, ErrorEnvelope)
    return schema


def install_openapi(app: FastAPI, unlimited: frozenset[str]) -> None:
    """Serve the documented schema at `/openapi.json` (built once, on first request);
    `unlimited`: the paths the rate limiter never refuses (no 429)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_schema(app, unlimited)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
