"""The benchmark's world: credentials, subscribers, numbers, and Twilio's request parameters.

Shared by the orchestrator (seeding), the carrier (phone scripts) and the load
generator (signed requests), so all three agree without passing lists around.

Subscribers: `ACCOUNTS` prepaid accounts, each with its own PIN and its own
destination. Callers: every trigger comes from a caller ID of its own,
`caller(n)` = +1 415 2nn nnnn, and caller `n` belongs to account `n % ACCOUNTS`:
its phone (in the carrier) types that account's PIN and destination.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from urllib.parse import urlencode

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
SECRET_KEY = "bench-secret-key-not-for-production-use-0123456789"
PIN_NUMBER = "+18005550000"  # the access number, mode pin
ACCOUNTS = 20
BALANCE = 10**12  # minor units: never the limit in a benchmark
CALLER_PREFIX = "+14152"
MAX_CALLERS = 1_000_000


def account_login(index: int) -> str:
    return f"bench{index:03d}"


def account_pin(index: int) -> str:
    # Six digits, distinct per account; account 0 has the PIN the README's examples use.
    return f"{(482193 + index * 7919) % 1_000_000:06d}"


def destination(index: int) -> str:
    """The national number account `index` dials (what its subscriber types)."""
    return f"212555{100 + index % 100:04d}"


def caller(n: int) -> str:
    return f"{CALLER_PREFIX}{n % MAX_CALLERS:06d}"


def caller_index(number: str) -> int | None:
    if len(number) == 12 and number.startswith(CALLER_PREFIX) and number[6:].isdigit():
        return int(number[6:])
    return None


def caller_account(number: str) -> int | None:
    n = caller_index(number)
    return None if n is None else n % ACCOUNTS


def call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def trigger_params(n: int) -> dict[str, str]:
    """What Twilio posts to the voice URL when caller `n` rings the access number."""
    sid = call_sid()
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "ringing",
        "Called": PIN_NUMBER,
        "CalledCountry": "US",
        "Caller": caller(n),
        "CallerCountry": "US",
        "Direction": "inbound",
        "From": caller(n),
        "FromCountry": "US",
        "To": PIN_NUMBER,
        "ToCountry": "US",
    }


def pin_params(*, leg_a_sid: str, leg_a_number: str, pin: str) -> dict[str, str]:
    """What Twilio posts to a <Gather> action on the callback leg once the PIN is typed."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": leg_a_sid,
        "CallStatus": "in-progress",
        "Called": leg_a_number,
        "Caller": PIN_NUMBER,
        "Digits": pin,
        "Direction": "outbound-api",
        "FinishedOnKey": "#",
        "From": PIN_NUMBER,
        "To": leg_a_number,
        "msg": "Gather End",
    }


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature exactly as Twilio computes it (checked against the SDK by the load generator)."""
    data = url + "".join(key + params[key] for key in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def form(params: dict[str, str]) -> bytes:
    return urlencode(params).encode()
