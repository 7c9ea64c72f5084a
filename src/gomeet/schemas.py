"""Shared API schema pieces: camelCase models and pagination."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


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
SearchQuery = Annotated[str, Query(max_length=100, description="case-insensitive name substring")]
