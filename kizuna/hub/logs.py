"""The hub's one structured logger: JSON lines (or text), a request id in every line, secrets redacted.

``configure(fmt, level)`` is called once by the serving composition root (``kizuna hub serve``); it installs
one handler on the root logger, so kizuna's own lines and uvicorn's go through the same formatter and the
same :class:`Redactor`. Every line written while a request is handled carries that request's id (a context
variable set by :mod:`kizuna.hub.middleware`; worker threads inherit it).

What is redacted, wherever it appears in a message or its arguments: the secret of a kizuna token (its key id
stays, so a line still says which token), ``Authorization`` and ``Cookie`` header values, bearer and basic
credentials, the web UI's session cookie, and the password of a URL or DSN (``scheme://user:PASSWORD@host``).
Request bodies are never logged.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

#: The id of the request being handled ("" outside one).
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("kizuna_request_id", default="")

LOGGER = "kizuna"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"kzn_([0-9a-f]{16})_[A-Za-z0-9_-]+"), r"kzn_\1_[redacted]"),
    (re.compile(r"kzn_(?![0-9a-f]{16}_\[redacted\])[A-Za-z0-9_-]+"), "kzn_[redacted]"),
    (
        re.compile(r"(?i)\b(authorization|cookie|set-cookie|x-api-key)(['\"]?\s*[:=]\s*['\"]?)[^'\",\n]+"),
        r"\1\2[redacted]",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"(kizuna_session=)[^;\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)[^@\s/'\"]+@"), r"\1[redacted]@"),
    (
        re.compile(r"(?i)\b(password|passwd|secret|token)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&]+"),
        r"\1\2[redacted]",
    ),
)


def redact(text: str) -> str:
    """``text`` with every secret shape above replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class Redactor(logging.Filter):
    """Rewrites each record's message (arguments merged in) with :func:`redact`; adds the request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: keep the template only
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if not getattr(record, "request_id", ""):
            record.request_id = request_id.get()
        return True


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = redact(value) if isinstance(value, str) else value
        if record.exc_text:
            body["exc"] = record.exc_text
        return orjson.dumps(body, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


def configure(fmt: str = "text", level: str = "info", stream: Any = None) -> logging.Handler:
    """Send every log line (kizuna's, uvicorn's) to ``stream`` (stderr) as ``json`` or ``text``."""
    if fmt not in ("json", "text"):
        raise ValueError("log format must be json or text")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(Redactor())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    return handler


def logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER}.{name}" if name else LOGGER)
