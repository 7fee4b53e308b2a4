"""Logging of one ore process: text for people or one JSON object per line for collectors.

Every record carries ``request_id``: the id of the HTTP request being served (set by the
request middleware in :data:`request_id_var`), or ``"-"`` outside a request. JSON lines have
the keys ``ts``, ``level``, ``logger``, ``message``, ``request_id``, then any ``extra=``
fields of the call (the access log adds method, path, route, status, duration_ms,
client_ip), then ``exception`` with the traceback when there is one.

Secrets never reach a line through ``extra=``: fields whose name looks like a credential
are masked. Messages themselves must not contain secrets (the access log writes the path
without its query string, and never headers or bodies).
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path
from typing import Any

from ore.config import Settings

request_id_var: ContextVar[str | None] = ContextVar("ore_request_id", default=None)

ACCESS_LOGGER = "ore.access"

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))
) | {"message", "asctime", "request_id", "taskName"}

_SECRET_MARKERS = ("password", "secret", "token", "authorization", "cookie", "api_key")
_MASK = "******"

# Libraries that log full outbound URLs (which may carry keys in the query) at INFO.
_QUIET_LIBRARIES = ("httpx", "httpcore")

# Marks the handlers configure_logging installed, so a second call replaces them and
# leaves everybody else's handlers (pytest's capture, an embedding application) alone.
_ORE_HANDLER = "_ore_handler"


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record that passes through the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        return True


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get() or "-",
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRIBUTES or key.startswith("_"):
                continue
            entry[key] = _MASK if _is_secret_name(key) else value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is at the time of the record.

    A plain StreamHandler keeps the stream it was built with; under a test runner that
    swaps stdout per test, that stream may be closed by the time a later record arrives.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stdout
            stream.write(line + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _formatter(settings: Settings) -> logging.Formatter:
    if settings.LOG_OUTPUT_FORMAT == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


def _handlers(settings: Settings) -> list[logging.Handler]:
    handlers: list[logging.Handler] = [StdoutHandler()]
    if settings.LOG_FILE:
        path = Path(settings.LOG_FILE).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Watched: an external logrotate can move the file away and we reopen it.
        handlers.append(WatchedFileHandler(path, encoding="utf-8"))
    return handlers


def configure_logging(settings: Settings) -> None:
    """Install ore's handlers on the root logger; calling it again replaces them."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _ORE_HANDLER, False):
            root.removeHandler(handler)
            handler.close()
    formatter = _formatter(settings)
    request_ids = RequestIdFilter()
    for handler in _handlers(settings):
        setattr(handler, _ORE_HANDLER, True)
        handler.setFormatter(formatter)
        handler.addFilter(request_ids)
        root.addHandler(handler)
    level = logging.getLevelName(settings.LOG_LEVEL)
    root.setLevel(level)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
