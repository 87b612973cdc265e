"""The shape of a provider's call or message id, which the platform otherwise treats as opaque.

Twilio's are `CA` and 32 hex digits, SignalWire's UUIDs, Telnyx's `v3:` and
URL-safe base64. What is checked is only what storing and logging one needs:
printable ASCII of a bounded length, no spaces, quotes or separators a log
line or a URL could be bent with.
"""

from __future__ import annotations

import re

MAX_LENGTH = 64  # the width of the sid columns
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_.\-]{0,63}")


def is_provider_id(value: str | None) -> bool:
    return bool(value) and value.isascii() and len(value) <= MAX_LENGTH and _ID.fullmatch(value) is not None
