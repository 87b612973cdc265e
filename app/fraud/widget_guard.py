"""What a website widget's visitor must get past before a callback is asked for: the per-IP and per-number
limits, a proof-of-work, a code texted to the number.

The widget's form is on a public page: anyone can post to it, from anywhere, as often as they like, and
every callback it starts rings a stranger's phone at the operator's cost. So:

- Each submission is a row of `widget_visits`, counted per client address (an hour) and per number (a day)
  against the widget's limits, the count and the insert inside one `limits.capped(...)` transaction, so that
  a burst of parallel posts cannot all pass. The address is `request_origin.client_address`, never a raw
  X-Forwarded-For.
- A proof-of-work challenge is issued by the server, signed (HMAC with the secret key), bound to the widget,
  good for five minutes and redeemed once (`widget_pow_spent`): the client must find a counter whose
  SHA-256 of `challenge:counter` starts with `bits` zero bits, which costs a browser a second or two and a
  bulk sender that per submission.
- A texted code is six digits, kept as a keyed hash, valid for ten minutes and five tries, one per visit;
  codes texted to one number by every widget are capped per day (VERIFICATION_NUMBER_DAILY_LIMIT, as the
  caller-ID codes of app/fraud/verifications.py are), never go to a number that texted STOP, and are
  charged to the widget's account at VERIFICATION_TEXT_PRICE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from app.core import security
from app.data import sms_log, verifications
from app.data import widgets as rows
from app.data.db import utcnow
from app.fraud import limits
from app.platform import Platform

CHALLENGE_TTL = dt.timedelta(minutes=5)
CODE_TTL = dt.timedelta(minutes=10)
CODE_TRIES = 5
IP_WINDOW = dt.timedelta(hours=1)
NUMBER_WINDOW = dt.timedelta(days=1)
KEEP_VISITS = dt.timedelta(days=2)  # longer than any window the limits count over
MIN_BITS, MAX_BITS = 1, 28
CHALLENGE = re.compile(r"(\d{1,10})\.(\d{1,12})\.(\d{1,2})\.([0-9a-f]{32})\.([0-9a-f]{32})")
SOLUTION = re.compile(r"\d{1,20}")


class GuardRefusal(Exception):
    """`reason`: rate_limited, pow_invalid, code_invalid, not_textable or unavailable; `message`: safe to show
    the visitor."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


# Proof-of-work -----------------------------------------------------------------------


def _signature(secret_key: str, payload: str) -> str:
    return hmac.new(secret_key.encode(), f"widget-pow:{payload}".encode(), hashlib.sha256).hexdigest()[:32]


def issue_challenge(secret_key: str, widget, *, now: dt.datetime | None = None) -> dict:
    """A new challenge for `widget`: `widget_id.expires.bits.nonce.signature` and what the client needs."""
    expires = int(((now or utcnow()) + CHALLENGE_TTL).replace(tzinfo=dt.timezone.utc).timestamp())
    payload = f"{widget['id']}.{expires}.{widget['pow_bits']}.{secrets.token_hex(16)}"
    return {"challenge": f"{payload}.{_signature(secret_key, payload)}", "bits": widget["pow_bits"],
            "expires_in": int(CHALLENGE_TTL.total_seconds())}


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def solve(challenge: str, bits: int) -> str:
    """A solution, found the way the widget's script finds one (for tests and for the documentation)."""
    counter = 0
    while leading_zero_bits(hashlib.sha256(f"{challenge}:{counter}".encode()).digest()) < bits:
        counter += 1
    return str(counter)


async def redeem_proof(p: Platform, widget, challenge: str, solution: str) -> None:
    """Accept a solved challenge once: signed by us, for this widget, not expired, solved, never redeemed.
    Raises GuardRefusal(pow_invalid)."""
    match = CHALLENGE.fullmatch(challenge or "")
    if match is None or not SOLUTION.fullmatch(solution or ""):
        raise GuardRefusal("pow_invalid", "the proof-of-work is malformed; reload the page and try again")
    widget_id, expires, bits, nonce, signature = match.groups()
    payload = challenge.rsplit(".", 1)[0]
    if not security.same_secret(signature, _signature(p.secret_key, payload)) or int(widget_id) != widget["id"]:
        raise GuardRefusal("pow_invalid", "the proof-of-work challenge was not issued for this widget")
    expires_at = dt.datetime.fromtimestamp(int(expires), dt.timezone.utc).replace(tzinfo=None)
    if expires_at <= utcnow():
        raise GuardRefusal("pow_invalid", "the proof-of-work challenge has expired; try again")
    if leading_zero_bits(hashlib.sha256(f"{challenge}:{solution}".encode()).digest()) < int(bits):
        raise GuardRefusal("pow_invalid", "the proof-of-work is not solved")
    if not await rows.spend_nonce(p.db, nonce=nonce, expires_at=expires_at):
        raise GuardRefusal("pow_invalid", "that proof-of-work was used already; try again")


# Visits: the limits, and the code --------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _code_digest(secret_key: str, visit_token_hash: str, code: str) -> str:
    return hmac.new(secret_key.encode(), f"widget-code:{visit_token_hash}:{code}".encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


async def open_visit(p: Platform, widget, *, number: str, client_ip: str, with_code: bool) -> tuple[str, str | None]:
    """Count a submission against the widget's limits and keep it: the visitor's token and, `with_code`, the
    code to text (the caller texts it once this has committed). Raises GuardRefusal(rate_limited)."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    digest = token_hash(token)
    code = f"{secrets.randbelow(1_000_000):06d}" if with_code else None
    subjects = [f"widget-ip:{widget['id']}:{client_ip}", f"widget-number:{number}"]
    async with limits.capped(p.db, *subjects):
        await rows.forget_visits(p.db, widget_id=widget["id"], before=now - KEEP_VISITS)
        if await rows.visits_from(p.db, widget_id=widget["id"], client_ip=client_ip,
                                  since=now - IP_WINDOW) >= widget["ip_hourly_limit"]:
            raise GuardRefusal("rate_limited", "too many requests from your network; try again later")
        if await rows.visits_to(p.db, widget_id=widget["id"], number=number,
                                since=now - NUMBER_WINDOW) >= widget["number_daily_limit"]:
            raise GuardRefusal("rate_limited", "too many requests for that number today; try again tomorrow")
        if with_code and await rows.visits_to(p.db, number=number, since=now - NUMBER_WINDOW, texted=True) \
                >= p.settings.verification_number_daily_limit:
            raise GuardRefusal("rate_limited", "no more codes can be texted to that number today")
        if with_code and await sms_log.is_opted_out(p.db, number=number):
            raise GuardRefusal("not_textable", "that number asked us not to text it (it may text START to us)")
        price = max(0, p.settings.verification_text_price)
        if with_code and await verifications.charge(p.db, account_id=widget["account_id"], price=price,
                                                    note=f"widget code to {number}") is None:
            raise GuardRefusal("unavailable", "codes cannot be texted right now")
        await rows.add_visit(p.db, widget_id=widget["id"], token_hash=digest, number=number, client_ip=client_ip,
                             code_hash=_code_digest(p.secret_key, digest, code) if code else None,
                             code_expires_at=now + CODE_TTL if code else None)
    return token, code


async def check_code(p: Platform, visit, code: str) -> None:
    """Count a try at the visit's code and accept it if right. Raises GuardRefusal(code_invalid)."""
    if visit["code_hash"] is None:
        raise GuardRefusal("code_invalid", "no code was texted for this request")
    tries = await rows.count_code_try(p.db, visit_id=visit["id"], max_tries=CODE_TRIES, now=utcnow())
    if tries is None:
        raise GuardRefusal("code_invalid", "the code has expired or was used up; start again")
    if not security.same_secret(visit["code_hash"], _code_digest(p.secret_key, visit["token_hash"], code)):
        left = CODE_TRIES - tries
        raise GuardRefusal("code_invalid", f"wrong code; {left} {'try' if left == 1 else 'tries'} left"
                           if left else "wrong code, and no tries left; start again")
