"""Twilio-shaped identifiers: a two-letter prefix and 32 hex digits (SignalWire's UUIDs: dialects.py)."""

from __future__ import annotations

import re
import secrets

DEFAULT_ACCOUNT_SID = "AC" + "5a" * 16
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"
DEFAULT_PROJECT_ID = "5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a"  # the account in the signalwire dialect

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Numbers a network presents when the caller withholds their identity.
BLOCKED_CALLER_IDS = frozenset({"anonymous", "Anonymous", "+266696687", "+7378742833", "+2562533", "restricted", "unknown"})


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def is_sid(value: str, prefix: str) -> bool:
    return bool(re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value or ""))


def is_e164(value: str | None) -> bool:
    return bool(value and E164.match(value))


def formatted(number: str | None) -> str | None:
    """Display form Twilio uses in `*_formatted`: '(415) 867-5308' for NANP."""
    if number and number.startswith("+1") and len(number) == 12 and number[2:].isdigit():
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number
