"""Registering a caller ID (ANI) from the portal: a code is texted to the number, and typed back.

An ANI authorizes callbacks by itself, so a number only becomes one once the
subscriber shows they hold the phone. Codes are six digits, kept as a keyed
hash, valid for ten minutes and five tries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets

import sqlalchemy as sa

from app import account_requests, accounts, security
from app.db import utcnow
from app.platform import Platform
from app.provider import ProviderError, ProviderTimeout
from app.tables import ani_verifications, anis

log = logging.getLogger(__name__)

CODE_TTL = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_PENDING = 3
MAX_SENDS = 3  # per number until the code expires: the portal must not become a way to spam a phone
RESEND_AFTER = dt.timedelta(seconds=60)


class VerificationError(ValueError):
    """A refusal to show the subscriber as is."""


def _digest(secret_key: str, account_id: int, number: str, code: str) -> str:
    message = f"ani-code:{account_id}:{number}:{code}".encode("utf-8", "surrogatepass")
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


async def list_pending(p: Platform, *, account_id: int):
    return await p.db.fetch_all(
        ani_verifications.select()
        .where(ani_verifications.c.account_id == account_id, ani_verifications.c.expires_at > utcnow(),
               ani_verifications.c.attempts < MAX_ATTEMPTS)
        .order_by(ani_verifications.c.id)
    )


async def start(p: Platform, *, account, number: str, code: str | None = None) -> None:
    """Text a code to `number` and keep it pending. Raises VerificationError."""
    account_id = account["id"]
    db = p.db
    owner = await db.fetch_val(sa.select(anis.c.account_id).where(anis.c.number == number))
    if owner == account_id:
        raise VerificationError(f"{number} is already one of your caller IDs")
    if owner is not None:
        # Same words as any other refusal: whose number it is stays private.
        raise VerificationError(f"{number} cannot be registered")
    now = utcnow()
    await db.execute(ani_verifications.delete().where(ani_verifications.c.expires_at <= now))
    existing = await db.fetch_one(ani_verifications.select().where(
        ani_verifications.c.account_id == account_id, ani_verifications.c.number == number))
    if existing is not None and now - existing["sent_at"] < RESEND_AFTER:
        raise VerificationError("a code was just sent to that number; wait a minute before asking for another")
    if existing is not None and existing["sends"] >= MAX_SENDS:
        raise VerificationError("no more codes can be sent to that number for now; try again in 10 minutes")
    pending = len(await list_pending(p, account_id=account_id))
    if existing is None and pending >= MAX_PENDING:
        raise VerificationError(f"at most {MAX_PENDING} numbers can wait for a code at once")
    sender = await account_requests.caller_id_for(p, None)
    if sender is None:
        raise VerificationError("codes cannot be texted right now; please try later")
    code = code or new_code()
    values = {"code_hash": _digest(p.secret_key, account_id, number, code), "attempts": 0, "sent_at": now,
              "expires_at": now + CODE_TTL}
    if existing is None:
        await db.execute(ani_verifications.insert().values(account_id=account_id, number=number, created_at=now,
                                                           sends=1, **values))
    else:
        await db.execute(ani_verifications.update().where(ani_verifications.c.id == existing["id"])
                         .values(sends=ani_verifications.c.sends + 1, **values))
    try:
        await p.provider.send_sms(to=number, from_=sender,
                                  body=f"Your callback verification code is {code}. It expires in 10 minutes.")
    except (ProviderError, ProviderTimeout) as exc:
        log.warning("verification code to %s not sent: %s", number, exc)
        await db.execute(ani_verifications.delete().where(ani_verifications.c.account_id == account_id,
                                                          ani_verifications.c.number == number))
        raise VerificationError("the code could not be texted to that number; please try later") from None


async def confirm(p: Platform, *, account, number: str, code: str) -> None:
    """Register `number` as a verified ANI if `code` is right. Raises VerificationError."""
    account_id = account["id"]
    row = await p.db.fetch_one(ani_verifications.select().where(
        ani_verifications.c.account_id == account_id, ani_verifications.c.number == number))
    if row is None or row["expires_at"] <= utcnow() or row["attempts"] >= MAX_ATTEMPTS:
        raise VerificationError("no code is waiting for that number; ask for a new one")
    # Count the attempt first (conditionally), so parallel guesses cannot exceed the limit.
    counted = await p.db.fetch_val(
        ani_verifications.update()
        .where(ani_verifications.c.id == row["id"], ani_verifications.c.attempts < MAX_ATTEMPTS)
        .values(attempts=ani_verifications.c.attempts + 1)
        .returning(ani_verifications.c.attempts)
    )
    if counted is None:
        raise VerificationError("no code is waiting for that number; ask for a new one")
    expected = row["code_hash"]
    if not security.same_secret(expected, _digest(p.secret_key, account_id, number, code.strip())):
        left = MAX_ATTEMPTS - counted
        if left <= 0:
            raise VerificationError("wrong code, and no tries left; ask for a new one")
        raise VerificationError(f"wrong code; {left} {'try' if left == 1 else 'tries'} left")
    await p.db.execute(ani_verifications.delete().where(ani_verifications.c.id == row["id"]))
    try:
        await accounts.add_ani(p.db, account_id=account_id, number=number, verified=True)
    except accounts.AccountError:
        raise VerificationError(f"{number} cannot be registered") from None


async def cancel(p: Platform, *, account_id: int, number: str) -> None:
    await p.db.execute(ani_verifications.delete().where(ani_verifications.c.account_id == account_id,
                                                        ani_verifications.c.number == number))
