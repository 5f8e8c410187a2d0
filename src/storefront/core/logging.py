"""structlog set-up: JSON lines in production, a readable console in development.

Our own loggers use structlog's fast native path; the standard library's records (uvicorn,
SQLAlchemy, alembic) are rendered by the same processors through `ProcessorFormatter`, so
every line has one shape. Secrets are redacted by key before anything is rendered.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

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


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key in list(event_dict):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(event_dict[key], Mapping | list | tuple):
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # uvicorn duplicates every message with ANSI colours in `color_message`.
    event_dict.pop("color_message", None)
    return event_dict


def get_logger(name: str) -> Any:
    """A structlog logger whose lines carry `logger=name`."""
    return structlog.get_logger(logger_name=name)


def _rename_logger_name(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # `logger` cannot be an initial value of structlog.get_logger(); stdlib records get it
    # from add_logger_name. One key for both.
    if "logger_name" in event_dict:
        event_dict["logger"] = event_dict.pop("logger_name")
    return event_dict


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping()[settings.log_level]
    json_output = settings.effective_log_format == "json"

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
    renderer: Processor
    if json_output:
        # Tracebacks as data, without the frames' local variables: those hold passwords,
        # tokens and request bodies (structlog shows them by default).
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())

    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # No file given: each logger writes to the sys.stdout of the moment.
        logger_factory=structlog.WriteLoggerFactory(),
        # Not cached: create_app() may run again with other settings in the same process.
        cache_logger_on_first_use=False,
    )

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
    logging.getLogger("sqlalchemy.engine").setLevel(
        logging.INFO if settings.db_echo else logging.WARNING
    )
