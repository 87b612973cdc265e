"""Reading a provider's call record: the fields every Twilio-shaped call resource has (Twilio's, SignalWire's,
Telnyx's TeXML), each checked rather than trusted, since a compatible API may send them otherwise."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation


def price(value) -> Decimal | None:
    # Twilio sends a string. A compatible provider may send a JSON number, which the SDK hands over as a
    # float: str() gives back its shortest decimal form ("0.0085"), what was sent, for Decimal to read exactly.
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def unit(value) -> str | None:
    code = str(value or "").strip().upper()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else None


def seconds(value) -> int | None:
    try:
        count = int(value)
    except (TypeError, ValueError):
        return None
    return count if count >= 0 else None


def naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value
