"""SMS triggers: from an incoming text to one reply, and maybe a callback request.

The same function serves the provider's webhook and SMS gateways; what differs
is only where the text came from (`source`) and how the reply goes back.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from app import accounts, callbacks, lockouts, money, rates, security, service_numbers, sms_commands as cmd, sms_log, states
from app.db import storable, utcnow
from app.phone import InvalidNumber, to_e164, usable_caller_id
from app.platform import Platform
from twiml.prompts import text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    to: str
    body: str
    deliver: bool  # False when the recipient opted out: logged, never sent


@dataclass(frozen=True)
class IncomingText:
    source: str  # "twilio" or "gateway:<name>"
    message_id: str
    sender: str
    to: str | None
    body: str
    base_url: str


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
    if await lockouts.requester_locked(p.db, requester=sender):
        raise Refusal("sms_not_authorized")
    account = None
    if isinstance(auth, cmd.BySender):
        account = await accounts.find_account_by_ani(p.db, number=sender)
    elif isinstance(auth, cmd.ByPin):
        account = await accounts.find_account_by_pin(p.db, secret_key=p.secret_key, pin=auth.pin)
    elif isinstance(auth, cmd.ByLogin):
        candidate = await accounts.get_account_by_login(p.db, login=auth.login[:64])
        password_ok = security.verify_password(candidate["password_hash"] if candidate else None, auth.password)
        account = candidate if password_ok else None
        if candidate is not None and account is None:
            await lockouts.record_failure(p.db, account_id=candidate["id"], requester=sender, channel="sms")
            raise Refusal("sms_not_authorized")
    if account is None or account["status"] != "active" or await lockouts.account_locked(p.db, account_id=account["id"]):
        if not isinstance(auth, cmd.BySender):
            await lockouts.record_failure(p.db, account_id=account["id"] if account else None, requester=sender,
                                          channel="sms")
        raise Refusal("sms_not_authorized")
    return account


def _number(raw: str, account) -> str:
    try:
        return to_e164(raw, account["country"])
    except InvalidNumber:
        raise Refusal("sms_invalid_number") from None


async def _service_number_for(p: Platform, to: str | None) -> str | None:
    """The number the callback comes from: the one texted, else the first shared service number."""
    if to:
        try:
            row = await service_numbers.get_number(p.db, number=to_e164(to, "US"))
        except InvalidNumber:
            row = None
        if row is not None:
            return row["number"]
    shared = [row for row in await service_numbers.list_numbers(p.db) if row["mode"] != "did"]
    return shared[0]["number"] if shared else None


async def _call(p: Platform, command: cmd.Call, account, incoming: IncomingText, sender: str,
                inbound_row: int) -> str:
    leg_a = _number(command.first, account) if command.first else sender
    destination = _number(command.destination, account) if command.destination else None
    if account["balance"] <= 0:
        raise Refusal("sms_low_balance")
    for number in (leg_a, destination):
        if number and await rates.find_rate(p.db, number=number, tariff=account["tariff"]) is None:
            raise Refusal("sms_no_rate", destination=number)
    caller_id = await _service_number_for(p, incoming.to)
    if caller_id is None:
        raise Refusal("sms_unavailable")
    now = utcnow()
    request_id, created = await callbacks.create_request(
        p.db,
        trigger_kind="sms",
        trigger_id=storable(f"{incoming.source}:{incoming.message_id}", 64),
        service_number=caller_id,
        mode="sms",
        caller_id=sender,
        account_id=account["id"],
        needs_pin=False,
        leg_a_number=leg_a,
        leg_a_from=caller_id,
        leg_b_number=destination,
        confirm_mode=account["confirm_mode"] if destination else None,
        notify_number=sender,
        state=states.QUEUED,
        base_url=incoming.base_url,
        due_at=now + dt.timedelta(seconds=p.settings.dispatch_delay_seconds),
        expires_at=now + dt.timedelta(seconds=p.settings.request_ttl_seconds),
    )
    if created:
        await sms_log.link_request(p.db, message_row_id=inbound_row, request_id=request_id)
        p.wake_dispatcher()
    if destination:
        return text("sms_queued_to", account["language"], leg_a=leg_a, destination=destination)
    return text("sms_queued", account["language"], leg_a=leg_a)


async def _act(p: Platform, command, incoming: IncomingText, sender: str, inbound_row: int) -> str | None:
    if isinstance(command, cmd.Help):
        return text("sms_help")
    if isinstance(command, cmd.Invalid):
        return text("sms_not_understood")
    if isinstance(command, cmd.OptOut):
        await sms_log.opt_out(p.db, number=sender)
        return None  # the provider confirms opt-outs itself; we must not text again
    if isinstance(command, cmd.OptIn):
        await sms_log.opt_in(p.db, number=sender)
        return text("sms_opted_in")
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
    if isinstance(command, cmd.Register):
        phone = _number(command.phone, account)
        try:
            await accounts.add_ani(p.db, account_id=account["id"], number=phone)
        except accounts.AccountError:
            return text("sms_not_registered", language)
        return text("sms_registered", language, number=phone)
    if isinstance(command, cmd.Call):
        return await _call(p, command, account, incoming, sender, inbound_row)
    return text("sms_not_understood", language)


async def handle_text(p: Platform, incoming: IncomingText) -> Reply | None:
    """Act on one incoming text. None: a duplicate delivery, or a sender we cannot answer."""
    sender = _sender_number(incoming.sender)
    inbound_row = await sms_log.record_inbound(p.db, source=incoming.source, message_id=incoming.message_id,
                                               from_number=sender or incoming.sender, to_number=incoming.to,
                                               body=incoming.body)
    if inbound_row is None:
        log.info("text %s from %s: duplicate delivery ignored", incoming.message_id, incoming.source)
        return None
    if sender is None:
        log.info("text %s: sender %r is not a phone number; no reply", incoming.message_id, incoming.sender)
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
