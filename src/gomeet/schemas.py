"""Shared API schema pieces: camelCase models, pagination, and the free-text and URL types."""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

from gomeet.text import nfc

AVATAR_URL_MAX_LENGTH = 2048

# Control characters (C0, DEL, C1) and lone surrogates: PostgreSQL refuses NUL and invalid
# UTF-8, and neither belongs in a name. Single-line text also refuses line/paragraph breaks
# and the bidirectional overrides that make a name display as something else.
_NEVER = frozenset({"Cc", "Cs"})
_MULTI_LINE_ALLOWED = frozenset("\t\n\r")
_LINE_BREAKS = frozenset({"Zl", "Zp"})
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def check_single_line(value: str) -> str:
    """Free text on one line: no control character, line break or bidi override."""
    for char in value:
        category = unicodedata.category(char)
        if category in _NEVER or category in _LINE_BREAKS or char in _BIDI_CONTROLS:
            raise ValueError("must not contain control characters or line breaks")
    return value


def check_multi_line(value: str) -> str:
    """Free text that may span lines (tab, CR, LF allowed); no other control character."""
    for char in value:
        if unicodedata.category(char) in _NEVER and char not in _MULTI_LINE_ALLOWED:
            raise ValueError("must not contain control characters")
    return value


def check_avatar_url(value: str | None) -> str | None:
    """An absolute http(s) URL; an empty string clears the avatar."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in 0-65535
    except ValueError:
        raise ValueError("must have a numeric port (0-65535)") from None
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain white space or control characters")
    return value


# Every free-text input goes through one of these (lengths are added where used).
SingleLineText = Annotated[str, AfterValidator(check_single_line), AfterValidator(nfc)]
MultiLineText = Annotated[str, AfterValidator(check_multi_line), AfterValidator(nfc)]
AvatarUrl = Annotated[
    str, StringConstraints(max_length=AVATAR_URL_MAX_LENGTH), AfterValidator(check_avatar_url)
]


class CamelModel(BaseModel):
    """Fields are snake_case in Python and camelCase on the wire (both accepted on input)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready dict an endpoint sends and the cache stores."""
        return self.model_dump(mode="json", by_alias=True)


class RequestModel(CamelModel):
    """Request bodies: unknown fields are ignored, strings are stripped."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, str_strip_whitespace=True
    )


class Pagination(CamelModel):
    page: int
    limit: int
    total: int
    total_pages: int

    @classmethod
    def of(cls, page: int, limit: int, total: int) -> Pagination:
        return cls(page=page, limit=limit, total=total, total_pages=math.ceil(total / limit))


# Out-of-range values are rejected with 400 VALIDATION_ERROR, never silently clamped.
PageQuery = Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")]
LimitQuery = Annotated[int, Query(ge=1, le=100, description="items per page, 1 to 100")]
SearchQuery = Annotated[
    str,
    Query(max_length=100, description="case-insensitive name substring"),
    AfterValidator(check_single_line),
]
