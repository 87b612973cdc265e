"""SMS triggers: from an incoming text to one reply, and maybe a callback request.

The same function serves the provider's webhook and SMS gateways; what differs
is only where the text came from (`source`) and how the reply goes back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.calls import account_requests, vouchers
from app.data import accounts, cards, rates, sms_log
from app.fraud import verifications as ani_verifications, lockouts
from app.core import money, schedule, security, states
from app.data.db import utcnow
from app.calls import sms_commands as cmd
from app.core.phone import InvalidNumber, to_e164, usable_caller_id
from app.platform import Platform
from app.providers.events import IncomingText
from twiml.prompts import text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    to: str
    body: str
    deliver: bool  # False when the recipient opted out: logged, never sent


def _sender_number(raw: str) -> str | None:
    number = usable_caller_id(raw)
    if number is None:
        try:
            number = to_e164(raw, "US")
        except InvalidNumber:
            return None
    return number


class Refusal(Exception):
    def __init__(self, key: str, **fields):
        self.key, self.fields = key, fields


async def _authorize(p: Platform, auth, sender: str):
    """The account a command acts for, or Refusal('sms_not_authorized') whatever the cause."""
    if isinstance(auth, cmd.BySender):
        if await lockouts.requester_locked(p.db, requester=sender):
            raise Refusal("sms_not_authorized")
        account = await accounts.find_account_by_ani(p.db, number=sender)
    else:
        account = await _by_secret(p, auth, sender)
    # The account-wide limit of this channel: web failures never silence the owner's texts.
    if account is None or account["status"] != "active" or cards.expired(account) or \
            await lockouts.account_locked(p.db, account_id=account["id"], channel="sms"):
        raise Refusal("sms_not_authorized")
    return account


async def _by_secret(p: Platform, auth: cmd.ByPin | cmd.ByLogin, sender: str):
    """The account a PIN or a login and password opens, counted against the sender before it is checked.

    Counting first (app/fraud/lockouts.py) means concurrent guesses from one sender
    are checked at most the limit, and a sender still in its backoff is refused
    unchecked. Only an active account opened by the secret takes the count back.
    """
    candidate = None
    if isinstance(auth, cmd.ByLogin):
        candidate = await accounts.get_account_by_login(p.db, login=auth.login[:64])
    attempt = await lockouts.begin(p.db, requester=sender, channel="sms",
                                   account_id=candidate["id"] if candidate is not None else None)
    if attempt is None:
        raise Refusal("sms_not_authorized")
    if isinstance(auth, cmd.ByPin):
        account = await accounts.find_account_by_pin(p.db, secret_key=p.secret_key, pin=auth.pin)
    else:
        password_ok = await security.verify_password_async(candidate["password_hash"] if candidate else None,
                                                           auth.password)
        account = candidate if password_ok else None
    if account is not None and account["status"] == "active":
        await lockouts.succeeded(p.db, attempt)
    return account


def _number(raw: str, account) -> str:
    try:
        return account_requests.normalize(raw, account)
    except account_requests.Refused:
        raise Refusal("sms_invalid_number") from None


# Why a callback was refused, as the text the subscriber gets back.
REFUSAL_TEXTS = {
    states.INSUFFICIENT_FUNDS: "sms_low_balance",
    states.DESTINATION_BLOCKED: "sms_no_rate",
    states.AUTH_FAILED: "sms_not_authorized",
    states.RATE_LIMITED: "sms_rate_limited",
    "invalid_number": "sms_invalid_number",
    "unavailable": "sms_unavailable",
}


def _scheduled_time(command: cmd.Call, account):
    """`AT hh:mm`: today on the account's clock, or tomorrow if that has passed (naive UTC); None: now."""
    if command.at is None:
        return None
    try:
        return schedule.next_at(*command.at, account["time_zone"], utcnow())
    except schedule.BadTime:
        raise Refusal("sms_time_skipped") from None


async def _call(p: Platform, command: cmd.Call, account, incoming: IncomingText, sender: str,
                inbound_row: int) -> str:
    at = _scheduled_time(command, account)
    try:
        leg_a = account_requests.normalize(command.first, account) if command.first else sender
        destination = account_requests.normalize(command.destination, account) if command.destination else None
        queued = await account_requests.request_callback(
            p, account=account, trigger_kind="sms", trigger_id=f"{incoming.source}:{incoming.message_id}",
            leg_a=leg_a, destination=destination, base_url=incoming.base_url, requester=sender,
            service_number=incoming.to, notify_number=sender, at=at,
        )
    except account_requests.Refused as refused:
        if refused.detail == account_requests.TOO_MANY_SCHEDULED:
            raise Refusal("sms_too_many_scheduled") from None
        raise Refusal(REFUSAL_TEXTS.get(refused.reason, "sms_unavailable"), destination=refused.number or "") from None
    if queued.created:
        await sms_log.link_request(p.db, message_row_id=inbound_row, request_id=queued.request_id)
    if at is not None:
        when = f"{schedule.utc_to_local(at, account['time_zone']):%Y-%m-%d %H:%M} ({account['time_zone']})"
        if destination:
            return text("sms_scheduled_to", account["language"], when=when, leg_a=leg_a, destination=destination)
        return text("sms_scheduled", account["language"], when=when, leg_a=leg_a)
    if destination:
        return text("sms_queued_to", account["language"], leg_a=leg_a, destination=destination)
    return text("sms_queued", account["language"], leg_a=leg_a)


# Why a code could not be texted, as the text the subscriber gets back (ownership never told).
REGISTER_REFUSALS = {"limited": "sms_rate_limited", "balance": "sms_low_balance", "unavailable": "sms_unavailable"}


async def _register(p: Platform, account, phone: str, sender: str, incoming: IncomingText) -> str:
    """`R.<phone>`: the sender's own number is registered as it is (the text proves it); any
    other number only once that phone sends back the code texted to it."""
    language = account["language"]
    try:
        if phone == sender:
            await ani_verifications.register_verified(p.db, account_id=account["id"], number=phone)
            return text("sms_registered", language, number=phone)
        await ani_verifications.register_unverified(p, account=account, number=phone, service_number=incoming.to)
    except ani_verifications.VerificationError as refused:
        log.info("R. command: %s not registered: %s", phone, refused)
        return text(REGISTER_REFUSALS.get(refused.kind, "sms_not_registered"), language)
    return text("sms_code_sent", language, number=phone)


async def _topup(p: Platform, account, code: str, sender: str) -> str:
    """`TOPUP <code>`: the sender is the requester the voucher lockout counts (app/calls/vouchers.py)."""
    language, currency = account["language"], account["currency"]
    outcome = await vouchers.redeem(p, account=account, typed=code, channel="sms", requester=sender)
    if isinstance(outcome, vouchers.Credited):
        return text("sms_voucher_accepted", language, amount=money.format_amount(outcome.value, currency),
                    balance=money.format_amount(outcome.balance, currency), currency=currency)
    return text("sms_voucher_locked" if outcome == vouchers.LOCKED else "sms_voucher_invalid", language)


async def _act(p: Platform, command, incoming: IncomingText, sender: str, inbound_row: int) -> str | None:
    if isinstance(command, cmd.Help):
        return text("sms_help")
    if command == cmd.BAD_CLOCK:
        return text("sms_bad_time")
    if isinstance(command, cmd.Invalid):
        return text("sms_not_understood")
    if isinstance(command, cmd.OptOut):
        await sms_log.opt_out(p.db, number=sender)
        return None  # the provider confirms opt-outs itself; we must not text again
    if isinstance(command, cmd.OptIn):
        await sms_log.opt_in(p.db, number=sender)
        return text("sms_opted_in")
    if isinstance(command, cmd.Verify):
        owner = await ani_verifications.confirm_from_phone(p, number=sender, code=command.code)
        if owner is None:
            return text("sms_verify_failed")
        return text("sms_registered", owner["language"], number=sender)
    account = await _authorize(p, command.auth, sender)
    language = account["language"]
    if isinstance(command, cmd.Balance):
        return text("sms_balance", language, amount=money.format_amount(account["balance"], account["currency"]),
                    currency=account["currency"])
    if isinstance(command, cmd.Rate):
        destination = _number(command.destination, account)
        rate = await rates.find_rate(p.db, number=destination, tariff=account["tariff"])
        if rate is None:
            return text("sms_no_rate", language, destination=destination)
        return text("sms_rate", language, destination=destination, price=money.format_price(rate.price_per_minute),
                    currency=account["currency"])
    if isinstance(command, cmd.Topup):
        return await _topup(p, account, command.code, sender)
    if isinstance(command, cmd.Register):
        return await _register(p, account, _number(command.phone, account), sender, incoming)
    if isinstance(command, cmd.Call):
        return await _call(p, command, account, incoming, sender, inbound_row)
    return text("sms_not_understood", language)


async def handle_text(p: Platform, incoming: IncomingText) -> Reply | None:
    """Act on one incoming text. None: a duplicate delivery, or a sender we cannot answer."""
    sender = _sender_number(incoming.sender)
    inbound_row = await sms_log.record_inbound(p.db, source=incoming.source, message_id=incoming.message_id,
                                               from_number=sender or incoming.sender, to_number=incoming.to,
                                               body=cmd.redact(incoming.body))
    if inbound_row is None:
        log.info("text from %s: duplicate delivery ignored", incoming.source)
        return None
    if sender is None:
        log.info("text from %s: the sender is not a phone number; no reply", incoming.source)
        return None
    command = cmd.parse(incoming.body)
    try:
        body = await _act(p, command, incoming, sender, inbound_row)
    except Refusal as refusal:
        body = text(refusal.key, **refusal.fields)
    if body is None:
        return None
    deliver = not await sms_log.is_opted_out(p.db, number=sender)
    await sms_log.record_outbound(p.db, source=incoming.source, to_number=sender, from_number=incoming.to,
                                  body=body, status="replied" if deliver else "suppressed")
    return Reply(to=sender, body=body, deliver=deliver)
