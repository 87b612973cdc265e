"""Logging: one JSON object per line, and nothing secret in any of them.

Secrets can reach a log line by accident (an SMS gateway's `?secret=` in an
access-log URL, a bearer token in a header dump), so a filter scrubs the
shapes they come in before any handler writes the record.
"""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter

_SECRET_PATTERNS = [
    (re.compile(r"(?i)\b(secret|token|password|pin|auth_token|authtoken)=([^&\s\"']+)"), r"\1=[redacted]"),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(basic|bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1\2 [redacted]"),
    (re.compile(r"\bcbp_[A-Za-z0-9_-]{20,}"), "cbp_[redacted]"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def config(level: str = "INFO") -> dict:
    """A logging dictConfig for the app and uvicorn alike."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"json": {"()": JsonFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            # The SDK logs whole request headers at INFO; the app logs what matters.
            "twilio": {"level": "WARNING"},
        },
    }
