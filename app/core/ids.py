"""Provider ids (calls, messages) as the app accepts them: opaque strings of a bounded, safe shape.

Each provider names things its own way: Twilio `CA` + 32 hex digits,
SignalWire UUIDs, Telnyx `v3:` + URL-safe base64. The app never reads
meaning into one; it only refuses what could not be an id at all (empty,
too long for its column, or carrying characters that have no place in a
URL segment, a log line or a key), before anything is stored.
"""

from __future__ import annotations

import re

MAX_LENGTH = 64  # the provider-id columns (trigger_id, leg_a_sid, provider_sid) are String(64)

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


def is_provider_id(value: object, *, max_length: int = MAX_LENGTH) -> bool:
    """`value` can be a provider's call or message id: 1 to `max_length` characters of [A-Za-z0-9._:-]."""
    return isinstance(value, str) and 0 < len(value) <= max_length and _ID.fullmatch(value) is not None
