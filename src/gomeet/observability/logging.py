"""structlog set-up: JSON (or console) records on stdout, each with its request's id.

Records of the standard library's loggers (uvicorn, SQLAlchemy, Alembic) go through the
same processors, so the whole output is one format. Fields whose name looks like a secret
are masked before rendering; request paths are logged with session ids masked.
"""

from __future__ import annotations

import logging
import re
import sys

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from gomeet.text import mask

_SECRET_FIELDS = re.compile(r"pass(word)?|secret|token|authorization|session_?id|cookie", re.I)
# Paths that end in a secret: the guest session id of `/public-users/session/{id}` (which
# may itself hold `/`).
_SECRET_PATH_SEGMENT = re.compile(r"(/session/)(.+)")
# A path's query string, as the server's own records write it (uvicorn logs a WebSocket
# handshake as `"WebSocket /api/v1/ws/meetings/…?token=…&sessionId=…" [accepted]`).
_QUERY_STRING = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")


_QUIET_LOGGERS = ("httpx", "httpcore", "aiosqlite", "asyncio")


class JsonSink:
    """What `configure_logging` set up for JSON output, for hot paths that render their own
    records in the same format (`gomeet.cache.oplog`). `active` is False while structlog no
    longer ends with our renderer (e.g. `structlog.testing.capture_logs`)."""

    __slots__ = ("processors", "renderer")

    def __init__(self, processors: list[Processor], renderer: Processor) -> None:
        self.processors = processors  # structlog's live list (kept by capture_logs)
        self.renderer = renderer

    @property
    def active(self) -> bool:
        processors = self.processors
        return bool(processors) and processors[-1] is self.renderer


json_sink: JsonSink | None = None  # set by configure_logging when LOG_FORMAT=json


def redact_path(path: str) -> str:
    """A request path fit for logs: secret segments masked, length bounded."""
    return _SECRET_PATH_SEGMENT.sub(lambda m: m.group(1) + mask(m.group(2)), path[:512])


def is_secret_field(field: str) -> bool:
    return field != "event" and _SECRET_FIELDS.search(field) is not None


def redact_field(field: str, value: object) -> object:
    """A secret-looking field's value masked (session ids keep 4 characters)."""
    return mask(str(value)) if "session" in field.lower() else "***"


def _drop_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for field in list(event_dict):
        if is_secret_field(field):
            event_dict[field] = redact_field(field, event_dict[field])
    return event_dict


class _Stdout:
    """Writes to whatever `sys.stdout` is at the time (test capture replaces it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The standard library's records, rendered by structlog."""


def _without_query(value: object) -> object:
    return _QUERY_STRING.sub(r"\1", value) if isinstance(value, str) and "?" in value else value


# uvicorn's WebSocket protocols log this error after every handshake refused with a
# denial response (they test for a completed handshake before the connection is marked
# lost); the signaling endpoint always accepts, refuses or raises, so it is noise.
_DENIAL_NOISE = "ASGI callable returned without completing handshake."


class _DropQueryStrings(logging.Filter):
    """Query strings out of the standard library's records: the signaling handshake
    carries the access token and the guest session id there (CONTRACT §6.11)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _DENIAL_NOISE and record.name == "uvicorn.error":
            return False
        record.msg = _without_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _without_query(v) for k, v in record.args.items()}
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.WriteLoggerFactory(file=_Stdout()),  # type: ignore[arg-type]
        # Not cached: module-level loggers must follow a later configure_logging (level,
        # format, stream); this costs about 1-2 µs per call.
        cache_logger_on_first_use=False,
    )
    global json_sink  # one logging set-up per process
    live: list[Processor] = structlog.get_config()["processors"]
    json_sink = JsonSink(live, renderer) if fmt == "json" else None
    handler = _StdoutHandler(_Stdout())
    handler.addFilter(_DropQueryStrings())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    # Replace only our own handler: others on the root logger (pytest's caplog) stay.
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdoutHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # The server's records are cleaned at the source, for every handler (tests' too).
    server_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropQueryStrings) for f in server_log.filters):
        server_log.addFilter(_DropQueryStrings())
    # uvicorn's own access log is off (`serve` passes access_log=False); ours is richer.
    logging.getLogger("uvicorn.access").disabled = True
    # Chatty libraries whose debug/info lines carry URLs or SQL parameters: warnings only.
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric_level, logging.WARNING))
