"""structlog set-up: JSON lines in production, a readable console in development.

Our own loggers use structlog's fast native path; the standard library's records (uvicorn,
SQLAlchemy, alembic) are rendered by the same processors through `ProcessorFormatter`, so
every line has one shape. Secrets are redacted by key before anything is rendered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Mapping
from typing import Any

import orjson
import structlog
import structlog.tracebacks
from structlog.typing import EventDict, Processor, WrappedLogger

from storefront.core.config import Settings

REDACTED = "[REDACTED]"
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "cookie",
        "set-cookie",
        "password",
        "current_password",
        "new_password",
        "password_hash",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "secret_key",
        "smtp_password",
        "api_key",
    }
)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if str(k).lower() in SENSITIVE_KEYS else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


# Values that hold nothing to redact inside them; checked by exact type first, because an
# isinstance() against `Mapping` (an ABC) costs more than the rest of the check.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key in list(event_dict):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
            continue
        value = event_dict[key]
        if type(value) not in _SCALARS and isinstance(value, Mapping | list | tuple):
            event_dict[key] = _redact(value)
    return event_dict


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # uvicorn duplicates every message with ANSI colours in `color_message`.
    event_dict.pop("color_message", None)
    return event_dict


def get_logger(name: str) -> Any:
    """A structlog logger whose lines carry `logger=name`."""
    return structlog.get_logger(logger_name=name)


# Access-log lines reach stdout's buffer at once and the file within this many seconds: one
# system call per burst of requests instead of one per request.
ACCESS_LOG_FLUSH_SECONDS = 0.05


class StdoutLogger:
    """Writes each line to the `sys.stdout` of the moment, as `WriteLoggerFactory()` without a
    file does, but as one long-lived object instead of one per call, and flushed by the event
    loop shortly after (at once when there is no running loop)."""

    def __init__(self) -> None:
        self._flush_scheduled = False

    def msg(self, message: str) -> None:
        sys.stdout.write(message + "\n")
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            sys.stdout.flush()
            return
        self._flush_scheduled = True
        loop.call_later(ACCESS_LOG_FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        sys.stdout.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


class BoundOnce:
    """A logger bound once (structlog's lazy proxy binds a new logger, and opens a new writer,
    on every call) and bound again only when the configuration changed (as
    `structlog.testing.capture_logs` does)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._processors: object = None
        self._logger: Any = None

    def get(self) -> Any:
        processors = structlog.get_config()["processors"]
        if processors is not self._processors:
            self._processors = processors
            wrapped = structlog.wrap_logger(StdoutLogger(), logger_name=self.name)
            self._logger = wrapped.bind()
        return self._logger


def _rename_logger_name(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # `logger` cannot be an initial value of structlog.get_logger(); stdlib records get it
    # from add_logger_name. One key for both.
    if "logger_name" in event_dict:
        event_dict["logger"] = event_dict.pop("logger_name")
    return event_dict


def _json_line(event: Any, **_options: Any) -> str:
    """structlog's JSON serializer: orjson (several times faster than json.dumps on an
    access-log line); a value it cannot encode natively is rendered with str(), and what it
    refuses outright (an integer over 64 bits) falls back to the standard library."""
    try:
        return orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(event, default=str)


def configure_logging(settings: Settings) -> None:
    """structlog for our loggers, and the standard library's records (uvicorn, SQLAlchemy,
    alembic) through the same processors, so that every line has one shape."""
    level = logging.getLevelNamesMapping()[settings.log_level]
    shared, renderer = _processors(settings)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # No file given: each logger writes to the sys.stdout of the moment.
        logger_factory=structlog.WriteLoggerFactory(),
        # Not cached: create_app() may run again with other settings in the same process.
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(shared, renderer, level, sql_echo=settings.db_echo)


def _processors(settings: Settings) -> tuple[list[Processor], Processor]:
    """The processors every line goes through, and the renderer that ends them."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _rename_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
        redact_secrets,
    ]
    if settings.otel_enabled:
        # trace_id and span_id beside request_id; imported only when tracing is on.
        from storefront.core.telemetry import add_trace_ids

        shared.insert(1, add_trace_ids)
    if settings.effective_log_format != "json":
        return shared, structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    # Tracebacks as data, without the frames' local variables: those hold passwords,
    # tokens and request bodies (structlog shows them by default).
    shared.append(
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
    )
    return shared, structlog.processors.JSONRenderer(serializer=_json_line)


def _route_standard_logging(
    shared: list[Processor], renderer: Processor, level: int, *, sql_echo: bool
) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            *shared,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # Requests are logged once, by our access-log middleware.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # SQL echo is opt-in (STOREFRONT_DB_ECHO); otherwise keep SQLAlchemy quiet.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO if sql_echo else logging.WARNING)
