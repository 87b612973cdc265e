"""The providers the carrier can stand in for: where its REST API lives, how it names things, how it signs.

Twilio is the default. SignalWire's Compatibility API is Twilio's with three
differences the carrier reproduces: the REST API lives under /api/laml, the
account (project) and every call and message are named by UUIDs, and
webhooks are signed with a signing key that is not the REST API token, in
X-SignalWire-Signature and again in X-Twilio-Signature (same value), so that
Twilio's libraries check them unchanged.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Dialect:
    name: str
    rest_prefix: str  # before /2010-04-01/Accounts/...
    signature_headers: tuple[str, ...]  # every header a webhook's signature is sent in
    uuid_sids: bool  # sids are UUIDs, not a two-letter prefix and 32 hex digits
    user_agent: str
    json_numbers: bool = False  # a call's duration and price are JSON numbers (SignalWire), not strings

    def new_sid(self, prefix: str) -> str:
        """A new call ("CA"), message ("SM", "MM") or account ("AC") id."""
        return str(uuid.uuid4()) if self.uuid_sids else prefix + secrets.token_hex(16)

    def is_sid(self, value: str | None, prefix: str) -> bool:
        if self.uuid_sids:
            return bool(_UUID.fullmatch(value or ""))
        return bool(re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value or ""))


TWILIO = Dialect("twilio", "", ("X-Twilio-Signature",), uuid_sids=False, user_agent="TwilioProxy/1.1")
SIGNALWIRE = Dialect("signalwire", "/api/laml", ("X-SignalWire-Signature", "X-Twilio-Signature"), uuid_sids=True,
                     user_agent="SignalWire-Compatibility/1.0", json_numbers=True)
DIALECTS = {dialect.name: dialect for dialect in (TWILIO, SIGNALWIRE)}


def dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}: {name!r}") from None
