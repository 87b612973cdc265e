"""Registering a caller ID (ANI): a code is texted to the number, and typed back.

An ANI authorizes callbacks by itself, so a number only becomes one once the
subscriber shows they hold the phone. Codes are six digits, kept as a keyed
hash, valid for ten minutes and five tries.

Every code texted is a text the operator pays for, to a number the subscriber
chose: the number must pass the destination policy as a call would, the
account must have money, and each code is a row of `verification_texts`,
which removing the pending code or the caller ID does not delete, counted
against a daily cap per account and per number (taken under a lock, so that
parallel requests cannot all pass it).

Whose a number is never shows: a number another account has verified gets the
answer a sent code gets (counted and charged the same, within the same caps),
but no text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets

from app.data import accounts, rates, service_numbers
from app.data import verifications as rows
from app.fraud import limits, policy
from app.core import security
from app.data.db import utcnow
from app.platform import Platform
from app.providers.interface import ProviderError, ProviderTimeout

log = logging.getLogger(__name__)

CODE_TTL = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_PENDING = 3
MAX_SENDS = 3  # per number until the code expires: the portal must not become a way to spam a phone
RESEND_AFTER = dt.timedelta(seconds=60)
DAY = dt.timedelta(days=1)


class VerificationError(ValueError):
    """A refusal to show the subscriber as is; `kind` says which, for a localized text reply:
    refused (the number), limited (a cap or a wait), balance, unavailable, code."""

    def __init__(self, message: str, kind: str = "refused"):
        super().__init__(message)
        self.kind = kind


def _digest(secret_key: str, account_id: int, number: str, code: str) -> str:
    message = f"ani-code:{account_id}:{number}:{code}".encode("utf-8", "surrogatepass")
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


async def list_pending(p: Platform, *, account_id: int):
    return await rows.pending(p.db, account_id=account_id, now=utcnow(), max_attempts=MAX_ATTEMPTS)


async def _refuse_unless_textable(p: Platform, account, number: str) -> None:
    """The checks a call to `number` would pass, before anything is texted to it. They are about the
    number alone, asked before whose it is: the answer is the same whether or not it is anyone's."""
    db = p.db
    why = await policy.check(db, account_id=account["id"], number=number)
    if why or await rates.find_rate(db, number=number, tariff=account["callback_tariff"]) is None:
        log.info("verification code to %s refused: %s", number, why or "no rate")
        raise VerificationError(f"codes cannot be texted to {number}")


async def _taken(db, account, number: str) -> bool:
    """Whether another account has `number` as a verified caller ID. An unverified claim (an SMS
    R. command) holds nothing: whoever proves the phone gets it."""
    owner = await rows.ani_owner(db, number=number)
    return owner is not None and owner["verified"] and owner["account_id"] != account["id"]


async def _charge(db, account_id: int, price: int, note: str) -> None:
    """Take the text's price from the spendable balance, or refuse; an adjustment row says why."""
    if await rows.charge(db, account_id=account_id, price=price, note=note) is None:
        raise VerificationError("your balance is too low to text a code; please top up", "balance")


async def start(p: Platform, *, account, number: str, code: str | None = None, channel: str = "portal",
                service_number: str | None = None) -> None:
    """Text a code to `number` and keep it pending. Raises VerificationError."""
    account_id = account["id"]
    db = p.db
    if number in await accounts.list_anis(db, account_id=account_id, verified_only=True):
        raise VerificationError(f"{number} is already one of your caller IDs")
    await _refuse_unless_textable(p, account, number)
    sender = await service_numbers.caller_id_for(db, service_number)
    if sender is None:
        raise VerificationError("codes cannot be texted right now; please try later", "unavailable")
    code = code or new_code()
    price = max(0, p.settings.verification_text_price)
    now = utcnow()
    values = {"code_hash": _digest(p.secret_key, account_id, number, code), "attempts": 0, "sent_at": now,
              "expires_at": now + CODE_TTL}
    async with limits.capped(db, f"verification-account:{account_id}", f"verification-number:{number}"):
        await rows.delete_expired(db, now=now)
        existing = await rows.find(db, account_id=account_id, number=number)
        if existing is not None and now - existing["sent_at"] < RESEND_AFTER:
            raise VerificationError("a code was just sent to that number; wait a minute before asking for another",
                                    "limited")
        if existing is not None and existing["sends"] >= MAX_SENDS:
            raise VerificationError("no more codes can be sent to that number for now; try again in 10 minutes",
                                    "limited")
        pending = len(await list_pending(p, account_id=account_id))
        if existing is None and pending >= MAX_PENDING:
            raise VerificationError(f"at most {MAX_PENDING} numbers can wait for a code at once", "limited")
        if await rows.texts_since(db, account_id=account_id, since=now - DAY) >= p.settings.verification_daily_limit:
            raise VerificationError("no more codes can be texted from your account today; try again tomorrow",
                                    "limited")
        if await rows.texts_since(db, number=number, since=now - DAY) >= p.settings.verification_number_daily_limit:
            raise VerificationError("no more codes can be texted to that number today; try again tomorrow",
                                    "limited")
        await _charge(db, account_id, price, f"verification code to {number}")
        text_id = await rows.add_text(db, account_id=account_id, number=number, channel=channel, sent_at=now)
        if existing is None:
            await rows.add(db, account_id=account_id, number=number, now=now, **values)
        else:
            await rows.resend(db, verification_id=existing["id"], **values)
        # Another account's verified caller ID: everything above happened (counted, charged, a
        # code pending that nobody will ever receive), only the text is not sent, so the
        # subscriber sees what any sent code shows and learns nothing of whose the number is.
        taken = await _taken(db, account, number)
    if taken:
        log.info("verification code to %s not sent: another account's caller ID", number)
        return
    # Texted after the commit: no lock is held while the provider answers.
    try:
        await p.provider.send_sms(to=number, from_=sender,
                                  body=f"Your callback verification code is {code}. It expires in 10 minutes.")
    except (ProviderError, ProviderTimeout) as exc:
        log.warning("verification code to %s not sent: %s", number, exc)
        async with db.transaction():
            await rows.delete_for(db, account_id=account_id, number=number)
            if isinstance(exc, ProviderError):
                # Refused by the provider, so never sent: neither counted nor paid for. A
                # timeout may have been sent, and stays counted (and paid for).
                await rows.delete_text(db, text_id=text_id)
                if price:
                    await accounts.top_up(db, account_id=account_id, amount=price, actor="verification",
                                          note=f"refund: code to {number} not sent")
        raise VerificationError("the code could not be texted to that number; please try later",
                                "unavailable") from None


async def register_unverified(p: Platform, *, account, number: str, service_number: str | None = None) -> None:
    """An ANI named by the subscriber (SMS `R.<phone>`): a code goes to the phone, and the number is
    kept as an unverified caller ID, which authorizes nothing until the code comes back."""
    await start(p, account=account, number=number, channel="sms", service_number=service_number)
    owner = await rows.ani_owner(p.db, number=number)
    if owner is None:
        try:
            await accounts.add_ani(p.db, account_id=account["id"], number=number, verified=False)
        except accounts.AccountError:
            pass  # claimed at the same moment; the code decides whose it is


async def register_verified(db, *, account_id: int, number: str) -> None:
    """`number` becomes a verified ANI of the account; unverified claims of other accounts give way.
    Raises VerificationError when another account has it verified."""
    async with db.transaction():
        await rows.drop_others_unverified(db, number=number, account_id=account_id)
        mine = await rows.mark_verified(db, number=number, account_id=account_id)
        if mine is None:
            try:
                await accounts.add_ani(db, account_id=account_id, number=number, verified=True)
            except accounts.AccountError:
                raise VerificationError(f"{number} cannot be registered") from None


async def confirm(p: Platform, *, account, number: str, code: str) -> None:
    """Register `number` as a verified ANI if `code` is right. Raises VerificationError."""
    account_id = account["id"]
    row = await rows.find(p.db, account_id=account_id, number=number)
    if row is None or row["expires_at"] <= utcnow() or row["attempts"] >= MAX_ATTEMPTS:
        raise VerificationError("no code is waiting for that number; ask for a new one")
    # Count the attempt first (conditionally), so parallel guesses cannot exceed the limit.
    counted = await rows.count_try(p.db, verification_id=row["id"], max_attempts=MAX_ATTEMPTS)
    if counted is None:
        raise VerificationError("no code is waiting for that number; ask for a new one")
    expected = row["code_hash"]
    if not security.same_secret(expected, _digest(p.secret_key, account_id, number, code.strip())):
        left = MAX_ATTEMPTS - counted
        if left <= 0:
            raise VerificationError("wrong code, and no tries left; ask for a new one")
        raise VerificationError(f"wrong code; {left} {'try' if left == 1 else 'tries'} left")
    await rows.delete(p.db, verification_id=row["id"])
    await register_verified(p.db, account_id=account_id, number=number)


async def confirm_from_phone(p: Platform, *, number: str, code: str):
    """The code texted back from the phone itself (SMS `VERIFY <code>`): the account whose
    pending code it is gets `number` as a verified ANI; that account, or None."""
    now = utcnow()
    for row in await rows.pending_for_number(p.db, number=number, now=now, max_attempts=MAX_ATTEMPTS):
        # Each pending code counts the try, as in the portal: guesses stay bounded.
        counted = await rows.count_try(p.db, verification_id=row["id"], max_attempts=MAX_ATTEMPTS)
        if counted is None or not security.same_secret(
                row["code_hash"], _digest(p.secret_key, row["account_id"], number, code.strip())):
            continue
        await rows.delete(p.db, verification_id=row["id"])
        try:
            await register_verified(p.db, account_id=row["account_id"], number=number)
        except VerificationError:
            return None
        return await accounts.get_account(p.db, account_id=row["account_id"])
    return None


async def cancel(p: Platform, *, account_id: int, number: str) -> None:
    await rows.delete_for(p.db, account_id=account_id, number=number)
