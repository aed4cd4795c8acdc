"""Structured logs: one JSON object per line, each carrying the request id it happened under.

A request id is set (:data:`REQUEST_ID`) when a request arrives; the outbox stores it with every notice
the request causes, and the dispatcher sets it again while it delivers one, so a request's line and the
lines of its deliveries (in whatever process or host) share it. Log lines name fields, never values a
caller sent: secrets and personal fields stay out by construction, and :class:`JsonFormatter` masks what
still looks like an identity number or a bearer token, in case a library's message carries one.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("baohan_request_id", default=None)
_SUPPLIED_ID = re.compile(r"[A-Za-z0-9._-]{8,64}", re.ASCII)
# A resident identity number (GB 11643: region, birth date, sequence, check character) and what follows
# "Bearer ": masked wherever they appear in a line.
_MASKED = (
    (
        re.compile(
            r"(?<![0-9A-Za-z])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])[0-3][0-9]{4}[0-9Xx](?![0-9A-Za-z])"
        ),
        "<id-number>",
    ),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1<token>"),
)


def new_request_id(supplied: str | None = None) -> str:
    """``supplied`` (an ``X-Request-Id`` a caller sent) when it is a plain id of 8–64 characters, else a new one."""
    if supplied and _SUPPLIED_ID.fullmatch(supplied):
        return supplied
    return uuid.uuid4().hex


_DIGITS = re.compile(r"[0-9]{17}")
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def mask(text: str) -> str:
    """``text`` with identity numbers and bearer tokens replaced by placeholders."""
    # Cheap looks first: most lines have neither 17 digits in a row nor the word.
    if _DIGITS.search(text):
        text = _MASKED[0][0].sub(_MASKED[0][1], text)
    if "earer" in text or "EARER" in text:
        text = _MASKED[1][0].sub(_MASKED[1][1], text)
    return text


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, request_id, and the ``fields`` extra.

    The message and any traceback are masked (:func:`mask`); ``fields`` are the caller's structured
    values and must hold nothing a counterparty sent besides ids and codes.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):  # values of our own choosing (codes, ids, timings): not masked
            line.update(fields)
        if record.exc_info:
            line["error"] = mask(self.formatException(record.exc_info))
        return _ENCODER.encode(line)


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (and uvicorn ``log_config``) sending every logger to stderr as JSON.

    uvicorn's access log is left off: the server logs its own line per request, with what a protocol
    request was (interface, msgcode, answer code) rather than only its path.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            **{
                name: {"handlers": [], "level": level.upper(), "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
            # SQLAlchemy's info and debug lines show statements and rows: personal fields, sealed secrets.
            "sqlalchemy": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }
