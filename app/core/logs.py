"""Logging: one JSON object per line, and nothing secret in any of them.

On a terminal (`make run`) the lines are plain text for a person to read
instead; anything else (a process manager, a pipe, a file) gets JSON.

Secrets can reach a log line by accident (an SMS gateway's `?secret=` in an
access-log URL, a bearer token in a header dump), so a filter scrubs the
shapes they come in before any handler writes the record.
"""

from __future__ import annotations

import logging
import re
import sys

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


# What every LogRecord has; anything else on a record came in through `extra=`.
# uvicorn adds `color_message` (its own message with ANSI colours) to some records.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message"}


class HumanFormatter(logging.Formatter):
    """`time level logger: message key=value ...`, the extras last, as the JSON lines carry them."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{key}={value}" for key, value in vars(record).items() if key not in _RECORD_FIELDS]
        if not extras:
            return line
        first, newline, rest = line.partition("\n")  # keep a traceback below the extras
        return f"{first} {' '.join(extras)}{newline}{rest}"


def config(level: str = "INFO", human: bool | None = None) -> dict:
    """A logging dictConfig for the app and uvicorn alike.

    `human` chooses plain text over JSON; by default, plain text exactly when
    stderr (where the lines go) is a terminal. Both keep the secret filter.
    """
    if human is None:
        human = sys.stderr.isatty()
    handler = {"class": "logging.StreamHandler", "formatter": "human" if human else "json", "filters": ["redact"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"json": {"()": JsonFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}},
                       "human": {"()": HumanFormatter}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            # The SDK logs whole request headers at INFO; the app logs what matters.
            "twilio": {"level": "WARNING"},
        },
    }
