"""The callback leg's IVR: what leg A hears and what each keypress does.

Each step takes the request row as last read and the provider's event
(app/providers/events.py), moves the request through app/calls/machine.py, and
returns TwiML from twiml/voice.py.
"""

from __future__ import annotations

import logging

from app.billing import reservations
from app.data import accounts, callbacks, cards, recordings
from app.calls import dialing, leg_status, machine, phonebook, vouchers
from app.fraud import limits, lockouts
from app.core import money, states, urls
from app.core.ids import is_provider_id
from app.core.phone import InvalidNumber, to_e164
from app.platform import Platform
from app.providers.events import CallAnswered, DialResult, GatherResult
from twiml import voice
from twiml.prompts import Speaker

DEFAULT_SPEAKER = Speaker()

log = logging.getLogger(__name__)

MAX_TRIES = 3  # PIN entries, silent prompts and bad destinations per session
B_FAILURE_PROMPTS = {states.B_BUSY: "b_busy", states.B_NO_ANSWER: "b_no_answer", states.B_FAILED: "b_failed"}


async def _account(p: Platform, request):
    if request["account_id"] is None:
        return None
    if "account" in request:
        return request["account"]  # read with the request at the step's start (callbacks.get_request_with_account)
    return await accounts.get_account(p.db, account_id=request["account_id"])


def _with_account(row, read):
    """A row read again (or returned by a move) keeps the account read with the earlier one, if it is still its."""
    if row is not None and "account" in read and row["account_id"] == read["account_id"]:
        row["account"] = read["account"]
    return row


async def _speaker(p: Platform, request, account) -> Speaker:
    language = account["language"] if account is not None else "en"
    return Speaker(language, await recordings.urls(p.db, base_url=request["base_url"], language=language))


async def end_session(p: Platform, request, reason: str, *, speaker: Speaker, prompt: str, detail: str | None = None,
                      event: str = machine.HUNG_UP, read_again: bool = True) -> str:
    """Hang up leg A: completed if a call was connected in this session, else failed with `reason`.

    The request is read again first, for the calls it has connected; `read_again=False` when `request` was
    read at the start of this step and nothing has been written since (the machine reads it again anyway
    if its move loses a race).
    """
    fresh = await callbacks.get_request(p.db, request_id=request["id"]) if read_again else request
    await machine.end_session(p.db, fresh, event, reason=reason, detail=detail)
    return voice.goodbye(speaker=speaker, keys=(prompt,))


async def answer(p: Platform, request, event: CallAnswered, *, provider: str | None = None) -> str:
    # The create call's response may not have been recorded yet: then this is its leg. Not so a call of a
    # provider the request was failed over from (`provider`, named in the URL): it is hung up.
    request = await machine.adopt_leg_a(p.db, request, event.call_id, provider=provider)
    if request["leg_a_sid"] != event.call_id:
        return voice.goodbye(speaker=DEFAULT_SPEAKER, keys=("session_over",))
    if request["state"] == states.CALLING_A:
        moved = await machine.advance(p.db, request, machine.LEG_A_ANSWERED, states.A_ANSWERED)
        request = _with_account(moved or await callbacks.get_request(p.db, request_id=request["id"]), request)
    if request["state"] != states.A_ANSWERED:
        return voice.goodbye(speaker=DEFAULT_SPEAKER, keys=("session_over",))
    account = await _account(p, request)
    speaker = await _speaker(p, request, account)
    if request["needs_pin"]:
        return voice.ask_pin(action=urls.leg_step(request["base_url"], request["id"], "pin"), speaker=speaker)
    if request["leg_b_number"] and account is not None:
        return await _one_stage(p, request, account, event)
    return _ask_destination(request, speaker)


async def _one_stage(p: Platform, request, account, event: CallAnswered) -> str:
    """The destination is known: make sure a person answered leg A, then dial it.

    Bridging leg B into leg A's voicemail would bill both legs for nothing.
    """
    mode = request["confirm_mode"] or "press1"
    if mode == "amd" and event.by_machine:
        return await end_session(p, request, states.A_NO_ANSWER, speaker=await _speaker(p, request, account),
                                 prompt="session_over", detail=f"answered by {event.answered_by}")
    if mode == "press1":
        return _ask_confirmation(request, await _speaker(p, request, account))
    return await _dial(p, request, account, request["leg_b_number"], on_refusal=_refuse_one_stage)


def _ask_confirmation(request, speaker: Speaker, before: tuple[str, ...] = ()) -> str:
    return voice.confirm_connect(action=urls.leg_step(request["base_url"], request["id"], "confirm"),
                                 number=request["leg_b_number"], speaker=speaker, before=before)


async def _refuse_one_stage(p: Platform, request, speaker: Speaker, prompt: str, reason: str) -> str:
    return await end_session(p, request, reason, speaker=speaker, prompt=prompt)


async def confirm_pressed(p: Platform, request, event: GatherResult) -> str:
    account = await _account(p, request)
    if request["state"] != states.A_ANSWERED or account is None or not request["leg_b_number"]:
        return voice.goodbye(speaker=await _speaker(p, request, account), keys=("session_over",))
    if event.digits == "1":
        return await _dial(p, request, account, request["leg_b_number"], on_refusal=_refuse_one_stage)
    speaker = await _speaker(p, request, account)
    return await _silence(p, request, speaker, lambda: _ask_confirmation(request, speaker))


def _ask_destination(request, speaker: Speaker, before: tuple[str, ...] = (), **fields) -> str:
    return voice.ask_destination(
        action=urls.leg_step(request["base_url"], request["id"], "destination"), speaker=speaker, before=before,
        **fields
    )


async def _silence(p: Platform, request, speaker: Speaker, ask) -> str:
    count = await callbacks.increment(p.db, request_id=request["id"], column="silent_prompts")
    if count >= MAX_TRIES:
        # Typically leg A went to voicemail: nobody is there to connect.
        return await end_session(p, request, states.A_NO_ANSWER, speaker=speaker, prompt="no_input_goodbye",
                                 detail="no input")
    return ask()


async def pin_entered(p: Platform, request, event: GatherResult) -> str:
    if request["state"] != states.A_ANSWERED:
        return voice.goodbye(speaker=DEFAULT_SPEAKER, keys=("session_over",))
    speaker = await _speaker(p, request, await _account(p, request))
    if not request["needs_pin"]:
        return _ask_destination(request, speaker)
    digits = event.digits
    pin_action = urls.leg_step(request["base_url"], request["id"], "pin")
    if not digits:
        return await _silence(p, request, speaker,
                              lambda: voice.ask_pin(action=pin_action, speaker=speaker, before=("no_pin",)))
    # In ANI-and-PIN mode the account is already known; the PIN must be its own.
    expected = request["account_id"]
    # Counted before it is checked (app/fraud/lockouts.py), then looked up by the statement that reads the
    # caller's lockout: a caller still in its backoff, or an account locked in advance, has its PIN not
    # taken, right or wrong, and hears what a wrong PIN gets, as a locked account does: a guesser learns
    # nothing from the answer.
    attempt = await lockouts.count_attempt(p.db, requester=request["leg_a_number"], channel="voice",
                                           account_id=expected)
    account, figures = await accounts.check_pin(
        p.db, secret_key=p.secret_key, pin=digits if digits.isdigit() and len(digits) <= 12 else None,
        channel="voice", since=attempt.at - lockouts.WINDOW, source=lockouts.source_key(request["leg_a_number"]),
        attempt=attempt.ids[0], expected=expected)
    unchecked = lockouts.refused_unchecked(attempt, **figures)
    if unchecked:
        await lockouts.uncount(p.db, attempt)
        account = None
    refused = (account is None or account["status"] != "active" or cards.expired(account)
               or (expected is not None and account["id"] != expected))
    if not refused and lockouts.account_too_many(account["recent_failures"]):
        refused = True
    if refused:
        failures = await callbacks.increment(p.db, request_id=request["id"], column="pin_failures")
        log.info("request %s: %s (%s of %s)", request["id"], "PIN refused unchecked" if unchecked else "wrong PIN",
                 failures, MAX_TRIES, extra={"callback_id": request["id"]})
        if failures >= MAX_TRIES:
            return await end_session(p, request, states.AUTH_FAILED, speaker=speaker, prompt="pin_locked",
                                     detail="three wrong PINs", event=machine.PIN_REFUSED)
        return voice.ask_pin(action=pin_action, speaker=speaker, before=("wrong_pin",))
    await cards.start_use(p.db, account=account)  # a PIN card's validity runs from its first call
    joined = await _join(p, request, account, attempt)
    if joined is not None:
        return _ask_destination(joined, await _speaker(p, joined, account))
    # One of the joint step's checks said no: the same steps one by one, each refusal told as such.
    await lockouts.succeeded(p.db, attempt)
    async with limits.capped(p.db, limits.account_subject(account)):
        over = await limits.account_over_concurrency(p.db, account=account, excluding=request["id"])
        request = await callbacks.assign_account(p.db, request_id=request["id"], account_id=account["id"])
    if over:
        return await end_session(p, request, states.RATE_LIMITED, speaker=await _speaker(p, request, account),
                                 prompt="too_many_calls")
    if not await dialing.hold_for_ivr(p, request, account):
        return await end_session(p, request, states.INSUFFICIENT_FUNDS, speaker=await _speaker(p, request, account),
                                 prompt="insufficient_funds")
    return _ask_destination(request, await _speaker(p, request, account))


class _NotJoined(Exception):
    """A check of `_join` said no: its transaction rolls back."""


async def _join(p: Platform, request, account, attempt: lockouts.Attempt):
    """The account a right PIN named joins its request in one transaction: the attempt taken back, the
    account's calls in progress counted against its cap (under the account's lock, so that parallel PIN
    entries cannot all take its last free slot), leg A's IVR time held (the callback leg is never free),
    and the request assigned, its hold written by the same statement. The row as it is then; None, and
    nothing written, if the account is at its cap, its balance (or its reseller's credit) falls short,
    leg A has no rate, or the request's hold moved meanwhile.
    """
    amount = await dialing.ivr_hold(p, request, account)
    if amount is None:
        return None
    seen = request["reserved"]
    try:
        async with limits.capped(p.db, limits.account_subject(account)):
            await lockouts.succeeded(p.db, attempt)
            if await limits.account_over_concurrency(p.db, account=account, excluding=request["id"]):
                raise _NotJoined
            # The request's row, then the account's: the order every transaction takes them in.
            joined = await callbacks.join_account(p.db, request_id=request["id"], account_id=account["id"],
                                                  seen=seen, amount=amount)
            if joined is None:
                raise _NotJoined
            if not await reservations.move_within(p.db, account_id=account["id"], seen=seen, amount=amount):
                raise _NotJoined
    except _NotJoined:
        return None
    return joined


async def _bad_destination(p: Platform, request, speaker: Speaker, prompt: str, reason: str) -> str:
    count = await callbacks.increment(p.db, request_id=request["id"], column="bad_destinations")
    if count >= MAX_TRIES:
        return await end_session(p, request, reason, speaker=speaker, prompt="too_many_tries")
    return _ask_destination(request, speaker, before=(prompt,))


async def destination_entered(p: Platform, request, event: GatherResult) -> str:
    if request["state"] != states.A_ANSWERED or request["needs_pin"]:
        return voice.goodbye(speaker=DEFAULT_SPEAKER, keys=("session_over",))
    account = await _account(p, request)
    if account is None:
        return await end_session(p, request, states.AUTH_FAILED, speaker=DEFAULT_SPEAKER, prompt="account_unavailable")
    speaker = await _speaker(p, request, account)
    digits = event.digits
    if not digits:
        return await _silence(p, request, speaker,
                              lambda: _ask_destination(request, speaker, before=("no_destination",)))
    if digits == VOUCHER_KEY:
        return await _ask_voucher(p, request, speaker)
    # A speed dial (*<code>#) or the redial (**#): the number it stands for, checked as if typed.
    keyed = await phonebook.resolve_keys(p.db, account, digits)
    if keyed is not None:
        if keyed.number is None:
            return await _bad_destination(p, request, speaker, keyed.prompt, states.DESTINATION_BLOCKED)
        return await _dial(p, request, account, keyed.number, on_refusal=_bad_destination)
    try:
        number = to_e164(digits, account["country"])
    except InvalidNumber:
        return await _bad_destination(p, request, speaker, "invalid_destination", states.DESTINATION_BLOCKED)
    return await _dial(p, request, account, number, on_refusal=_bad_destination)


async def _dial(p: Platform, request, account, number: str, *, on_refusal) -> str:
    """Dial leg B as app/calls/dialing.py plans it, announcing the balance and the minutes."""
    speaker = await _speaker(p, request, account)
    plan = await dialing.plan_leg_b(p, request, account, number)  # the request is calling_b with a plan
    if plan is dialing.MOVED:
        return voice.goodbye(speaker=speaker, keys=("session_over",))
    if isinstance(plan, dialing.Refusal):
        if plan.reason == states.INSUFFICIENT_FUNDS:
            return await end_session(p, request, plan.reason, speaker=speaker, prompt=plan.prompt,
                                     detail=plan.detail)
        return await on_refusal(p, request, speaker, plan.prompt, plan.reason)
    return voice.connect(
        number=number,
        action=urls.leg_step(request["base_url"], request["id"], "dialed"),
        status_callback=urls.status_callback(request["base_url"], request["id"], "b"),
        caller_id=await dialing.presented_caller_id(p, request, account),
        time_limit=plan.time_limit,
        speaker=speaker,
        balance=None if for_visitor(request)
        else money.format_amount(plan.spendable, account["currency"]) + " " + account["currency"],
        recording=_recording(request) if account["record_calls"] else None,
    )


def for_visitor(request) -> bool:
    """A website widget's request: leg A is a visitor, not the account's owner. They hear neither the
    account's balance nor the offer of another call (which would let them dial anywhere on its money):
    the session ends when the widget's destination hangs up."""
    return request["mode"] == "widget"


def _recording(request) -> voice.Recording:
    return voice.Recording(status_callback=urls.recording_callback(request["base_url"], request["id"]),
                           whisper=urls.leg_step(request["base_url"], request["id"], "whisper"))


async def whisper(p: Platform, request, event: GatherResult) -> str:
    """Leg B of a recorded call answered: it hears so before it is bridged to leg A."""
    return voice.whisper(speaker=await _speaker(p, request, await _account(p, request)))


async def dial_ended(p: Platform, request, event: DialResult) -> str:
    account = await _account(p, request)
    speaker = await _speaker(p, request, account)
    status = event.status
    if status not in ("completed", "answered", "busy", "no-answer", "failed", "canceled"):
        status = "failed"  # not a status the provider sends: the call did not go through
    reason = states.LEG_B_FAILURES.get(status)
    dial_sid = event.dialled_call_id
    if status in ("completed", "answered") and is_provider_id(dial_sid):
        # The second party was bridged. Its own "answered" status callback may
        # come later than this (or never); count the call now, once either way.
        counted = await leg_status.note_leg_b_answered(p, request, sid=dial_sid, to=request["leg_b_number"])
        request = _with_account(counted, request) or request
        if request["state"] == states.CALLING_B:
            # Leg B's own report counted the call and has not moved the request yet: connected here, so that a
            # bridged call is always connected before its end, whichever report comes first.
            moved = await machine.advance(p.db, request, machine.LEG_B_ANSWERED, states.CONNECTED,
                                          detail=request["leg_b_number"])
            request = _with_account(moved or await callbacks.get_request(p.db, request_id=request["id"]), request)
    for _ in range(2):
        if request["state"] not in (states.CALLING_B, states.CONNECTED):
            break
        if await machine.move(p.db, request, machine.LEG_B_ENDED, states.A_ANSWERED,
                              detail=f"leg B {status or 'ended'}", last_b_reason=reason):
            request = dict(request, state=states.A_ANSWERED, last_b_reason=reason)
            break
        # Moved meanwhile: leg B's own report connected it (or leg A's ended the session).
        request = _with_account(await callbacks.get_request(p.db, request_id=request["id"]), request)
    if request["state"] != states.A_ANSWERED:
        return voice.goodbye(speaker=speaker, keys=("session_over",))
    before = (B_FAILURE_PROMPTS[reason],) if reason in B_FAILURE_PROMPTS else ()
    if for_visitor(request):
        fresh = await callbacks.get_request(p.db, request_id=request["id"])
        await machine.end_session(p.db, fresh, machine.HUNG_UP, reason=reason or states.CANCELED,
                                  detail="the widget's destination hung up")
        return voice.goodbye(speaker=speaker, keys=(*before, "goodbye"))
    return voice.offer_next_call(action=urls.leg_step(request["base_url"], request["id"], "next"),
                                 speaker=speaker, before=before)


async def _another_call(p: Platform, request, speaker: Speaker) -> str:
    return _ask_destination(request, speaker)


async def _ask_voucher(p: Platform, request, speaker: Speaker) -> str:
    return voice.ask_voucher(action=urls.leg_step(request["base_url"], request["id"], "voucher"), speaker=speaker)


# At the destination prompt, * then # (the digits "*") asks for a voucher code; in the next-call menu, 2.
VOUCHER_KEY = "*"
NEXT_CALL_MENU = {"1": _another_call, "2": _ask_voucher}
VOUCHER_PROMPTS = {vouchers.INVALID: "voucher_invalid", vouchers.LOCKED: "voucher_locked"}


async def voucher_entered(p: Platform, request, event: GatherResult) -> str:
    """A voucher code typed: credit it (app/calls/vouchers.py), say the outcome, then ask for a destination."""
    if request["state"] != states.A_ANSWERED or request["needs_pin"]:
        return voice.goodbye(speaker=DEFAULT_SPEAKER, keys=("session_over",))
    account = await _account(p, request)
    if account is None:
        return await end_session(p, request, states.AUTH_FAILED, speaker=DEFAULT_SPEAKER, prompt="account_unavailable")
    speaker = await _speaker(p, request, account)
    if not event.digits:
        return await _silence(p, request, speaker, lambda: _ask_destination(request, speaker))
    outcome = await vouchers.redeem(p, account=account, typed=event.digits, channel="voice",
                                    requester=request["leg_a_number"])
    if isinstance(outcome, vouchers.Credited):
        balance = money.format_amount(outcome.balance, account["currency"]) + " " + account["currency"]
        return _ask_destination(request, speaker, before=("voucher_accepted",), balance=balance)
    return _ask_destination(request, speaker, before=(VOUCHER_PROMPTS[outcome],))


async def next_call_chosen(p: Platform, request, event: GatherResult) -> str:
    account = await _account(p, request)
    speaker = await _speaker(p, request, account)
    if request["state"] != states.A_ANSWERED:
        return voice.goodbye(speaker=speaker, keys=("session_over",))
    choice = NEXT_CALL_MENU.get(event.digits) if not for_visitor(request) else None
    if choice is None:
        return await end_session(p, request, request["last_b_reason"] or states.CANCELED, speaker=speaker,
                                 prompt="goodbye", read_again=False)
    return await choice(p, request, speaker)


STEPS = {
    "answer": answer,
    "pin": pin_entered,
    "destination": destination_entered,
    "confirm": confirm_pressed,
    "dialed": dial_ended,
    "next": next_call_chosen,
    "whisper": whisper,
    "voucher": voucher_entered,
}
