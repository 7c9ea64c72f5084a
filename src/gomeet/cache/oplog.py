"""One structured log record per cache operation (logger `gomeet.cache`).

Fields: `event` (the operation: get, set, delete, …), `key`, `hit`, `duration` (ms),
`msg`, `error` when there is one; the level is info for normal flow (misses included) and
warning for errors. Session IDs in `public_user:` keys are masked. Callers check
`OpLog.enabled` before building a record, so a disabled info level costs one attribute read.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from gomeet.observability.logging import mask

_PUBLIC_USER = "public_user:"
COMPLETED = "Cache operation completed"
FAILED = "Cache operation failed"


def display_key(name: str) -> str:
    """The key as it may appear in logs: session IDs masked (idempotent)."""
    if name.startswith(_PUBLIC_USER) and not name.endswith("…"):
        return _PUBLIC_USER + mask(name[len(_PUBLIC_USER) :])
    return name


class OpLog:
    def __init__(self) -> None:
        self._log: Any = structlog.get_logger("gomeet.cache").bind()
        is_enabled_for = getattr(self._log, "is_enabled_for", None)
        self.enabled: bool = is_enabled_for(logging.INFO) if is_enabled_for else True

    def done(self, op: str, name: str, hit: bool, seconds: float, **extra: Any) -> None:
        self._log.info(
            op,
            key=display_key(name),
            hit=hit,
            duration=round(seconds * 1000, 3),
            msg=COMPLETED,
            **extra,
        )

    def failed(self, op: str, name: str, seconds: float, error: BaseException | str) -> None:
        self._log.warning(
            op,
            key=display_key(name),
            hit=False,
            duration=round(seconds * 1000, 3),
            msg=FAILED,
            error=error if isinstance(error, str) else f"{type(error).__name__}: {error}",
        )

    def event(self, op: str, **fields: Any) -> None:
        """State changes (breaker opened/closed, pub/sub lost): warning level."""
        self._log.warning(op, **fields)

    def info(self, op: str, **fields: Any) -> None:
        if self.enabled:
            self._log.info(op, **fields)
