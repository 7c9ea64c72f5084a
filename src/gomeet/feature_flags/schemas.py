"""Feature-flag request and response shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, StrictBool

from gomeet.schemas import CamelModel, MultiLineText, RequestModel


class FlagSetRequest(RequestModel):
    # Checked against FLAG_NAME_PATTERN by the service, so that a bad name gets its own code
    # (and is a per-item error in a batch); the bound only keeps echoed names short.
    flag_name: str = Field(max_length=200)
    enabled: StrictBool
    # Omitted: an existing description is kept. Given (null included): it is replaced.
    description: MultiLineText | None = Field(default=None, max_length=500)


class FeatureFlagOut(CamelModel):
    name: str
    enabled: bool
    description: str | None
    updated_at: datetime


class FlagResultOut(CamelModel):
    flag_name: str
    success: bool
    error: str | None = None


class FlagBatchOut(CamelModel):
    """`data` of `/feature-flags/batch-set`: valid items applied, the others reported."""

    success_count: int
    error_count: int
    results: list[FlagResultOut]
