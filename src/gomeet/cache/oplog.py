"""One structured log record per cache operation (logger `gomeet.cache`).

Fields: `event` (the operation: get, set, delete, …), `key` (session ids masked), `hit`,
`duration` (ms), `msg`, and `error` when there is one; the level is info for normal flow
(misses included) and warning for errors. Callers check `enabled` before building a
record, so a disabled info level costs one attribute read.

This is the plain structlog implementation; the app injects a faster renderer of the same
records (`gomeet.observability.cache_log.JsonOpLog`) when it logs JSON.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import structlog

from gomeet.cache.keys import display_key

COMPLETED: Final = "Cache operation completed"
FAILED: Final = "Cache operation failed"


class OpLog:
    def __init__(self) -> None:
        self._log: Any = structlog.get_logger("gomeet.cache").bind()
        is_enabled_for = getattr(self._log, "is_enabled_for", None)
        self.enabled: bool = is_enabled_for(logging.INFO) if is_enabled_for else True
        self.warnings: bool = is_enabled_for(logging.WARNING) if is_enabled_for else True

    def done(self, op: str, name: str, hit: bool, seconds: float, **extra: Any) -> None:
        duration = round(seconds * 1000, 3)
        self._log.info(
            op, key=display_key(name), hit=hit, duration=duration, msg=COMPLETED, **extra
        )

    def failed(self, op: str, name: str, seconds: float, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        duration = round(seconds * 1000, 3)
        self._log.warning(
            op, key=display_key(name), hit=False, duration=duration, msg=FAILED, error=text
        )

    def event(self, op: str, **fields: Any) -> None:
        """State changes (breaker opened/closed, pub/sub lost): warning level."""
        self._log.warning(op, **fields)

    def info(self, op: str, **fields: Any) -> None:
        if self.enabled:
            self._log.info(op, **fields)
