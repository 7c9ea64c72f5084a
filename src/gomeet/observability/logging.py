"""structlog set-up: JSON (or console) records, each with the request id of its request."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.types import EventDict, WrappedLogger

_SECRET_FIELDS = re.compile(r"pass(word)?|secret|token|authorization|session_?id|cookie", re.I)


def mask(value: str, visible: int = 4) -> str:
    """`abcd…` style masking for identifiers that must stay recognisable but not reusable."""
    return value[:visible] + "…" if len(value) > visible else "…"


def _drop_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for field in list(event_dict):
        if field != "event" and _SECRET_FIELDS.search(field):
            value = event_dict[field]
            event_dict[field] = mask(str(value)) if "session" in field.lower() else "***"
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stdout, format="%(message)s", force=True)
