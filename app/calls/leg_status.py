"""Status callbacks: leg progress, CDRs, and what a leg's end does to its request.

A leg's end may also come from the provider's call record instead of its final
status callback, when that callback was lost (app/calls/lost_callbacks.py): it takes
the same path, so it settles the request exactly as the callback would have.
"""

from __future__ import annotations

import datetime as dt
import logging

from app.data import accounts, callbacks, rates
from app.billing import pricing as billing, provider_prices, reservations
from app.core import states
from app.data.db import storable, utcnow
from app.platform import Platform
from app.providers.twilio import ProviderCall

log = logging.getLogger(__name__)

FINAL = {"completed", "busy", "no-answer", "failed", "canceled"}


KNOWN_STATUSES = {"queued", "initiated", "ringing", "in-progress", "answered"} | FINAL
MAX_SECONDS = 7 * 24 * 3600  # no call lasts longer; a larger duration is not the provider's
# The SequenceNumber given to a leg's end read from the provider's record: no callback can
# come after a call has ended, so a late real one (an "in-progress" delayed) must not overwrite it.
PROVIDER_RECORD_SEQUENCE = 2**31 - 1


def _int(value, default: int | None = None, *, most: int = 2**31 - 1) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if 0 <= number <= most else default


async def _write_cdr(p: Platform, request, *, sid: str, leg: str, number: str | None, status: str,
                     duration: int, ended_at: dt.datetime | None) -> None:
    account = await accounts.get_account(p.db, account_id=request["account_id"]) if request["account_id"] else None
    if account is not None:
        tariff = account["callback_tariff"] if leg == "a" else account["tariff"]
        currency = account["currency"]
    else:
        tariff, currency = "default", "USD"
    rate = await rates.find_rate(p.db, number=number, tariff=tariff) if number and duration > 0 else None
    billed, cost = billing.leg_cost(duration, rate, currency) if rate else (0, 0)
    if leg == "a" and not p.settings.bill_leg_a_without_b and request["calls_connected"] == 0:
        cost = 0  # the operator chose not to charge sessions that connected nobody
    ended_at = ended_at or utcnow()
    # The CDR and its charge together: a crash between them would leave a call unbilled.
    async with p.db.transaction():
        first_time = await callbacks.finish_leg_once(
            p.db, sid=sid, status=status, ended_at=ended_at, duration_seconds=duration, billed_seconds=billed,
            rate_prefix=rate.prefix if rate else None, price_per_minute=rate.price_per_minute if rate else None,
            cost=cost, price_check_at=provider_prices.first_check_at(ended_at),
        )
        # Only the first final callback bills: providers repeat callbacks.
        if first_time and cost and account is not None:
            await reservations.spend(p.db, request_id=request["id"], account_id=account["id"], cost=cost)


async def _release_if_over(p: Platform, request_id: int) -> None:
    request = await callbacks.get_request(p.db, request_id=request_id)
    if request["state"] in states.TERMINAL and request["reserved"] and request["account_id"]:
        await reservations.release(p.db, request_id=request_id, account_id=request["account_id"])


async def _retry_or_fail_leg_a(p: Platform, request, status: str) -> None:
    reason = states.LEG_A_FAILURES.get(status, states.A_FAILED)
    account = await accounts.get_account(p.db, account_id=request["account_id"]) if request["account_id"] else None
    retries = account["retry_attempts"] if account is not None else 1
    delay = account["retry_delay_seconds"] if account is not None else 60
    legs_tried = sum(1 for leg in await callbacks.list_legs(p.db, request_id=request["id"]) if leg["leg"] == "a")
    if status != "canceled" and legs_tried <= retries and utcnow() + dt.timedelta(seconds=delay) < request["expires_at"]:
        moved = await callbacks.transition(
            p.db, request, states.QUEUED, detail=f"leg A {status}; retry {legs_tried} of {retries}",
            leg_a_sid=None, due_at=utcnow() + dt.timedelta(seconds=delay),
        )
        if moved:
            p.wake_dispatcher()
        return
    await callbacks.transition(p.db, request, states.FAILED, reason=reason, detail=f"leg A {status}")


async def _leg_a(p: Platform, request, params: dict, status: str, sequence: int | None,
                 ended_at: dt.datetime | None) -> None:
    sid = params["CallSid"]
    known = await callbacks.get_leg(p.db, sid=sid)
    if known is None:
        if request["leg_a_sid"] is None and request["state"] == states.CALLING_A:
            await callbacks.attach_leg_a(p.db, request_id=request["id"], sid=sid)
            request = await callbacks.get_request(p.db, request_id=request["id"])
        if request["leg_a_sid"] != sid:
            log.warning("request %s: status for a leg A %s that is not its own", request["id"], sid, extra={"callback_id": request["id"]})
            return
        await callbacks.ensure_leg(p.db, request_id=request["id"], leg="a", sid=sid, direction="outbound-api",
                                   from_number=params.get("From"), to_number=request["leg_a_number"], status=status)
    await callbacks.update_leg(p.db, sid=sid, sequence=sequence, status=status)
    if status == "in-progress":
        await callbacks.finish_answer_once(p.db, sid=sid)
    if status not in FINAL:
        return
    duration = _int(params.get("CallDuration"), 0, most=MAX_SECONDS) if status == "completed" else 0
    await _write_cdr(p, request, sid=sid, leg="a", number=request["leg_a_number"], status=status, duration=duration,
                     ended_at=ended_at)
    if request["leg_a_sid"] != sid:
        return  # the end of an earlier attempt
    # A repeated final callback is acted on too: if the process that took the first one died after the CDR
    # and before moving the request, only a repeat moves it. Each move is conditional on the state it
    # leaves, so the repeat of one that did move changes nothing.
    if request["state"] == states.CALLING_A:
        await _retry_or_fail_leg_a(p, request, status)
    else:
        await _end_session(p, request)
    await _release_if_over(p, request["id"])


async def _end_session(p: Platform, request) -> None:
    """Leg A hung up: the session is over, whatever step it was at.

    The Dial action of a bridged call races this callback (both come as leg A
    ends) and may move the request between our read and our write, so re-read
    and try again until it is no longer live.
    """
    for _ in range(5):
        if request["state"] not in states.LIVE:
            return
        if request["calls_connected"] > 0:
            moved = await callbacks.transition(p.db, request, states.COMPLETED, detail="leg A ended")
        else:
            moved = await callbacks.transition(p.db, request, states.FAILED,
                                               reason=request["last_b_reason"] or states.CANCELED,
                                               detail="leg A hung up before a call was connected")
        if moved:
            return
        request = await callbacks.get_request(p.db, request_id=request["id"])


async def _leg_b(p: Platform, request, params: dict, status: str, sequence: int | None,
                 ended_at: dt.datetime | None) -> None:
    sid = params["CallSid"]
    await callbacks.ensure_leg(p.db, request_id=request["id"], leg="b", sid=sid, direction="outbound-dial",
                               from_number=params.get("From"), to_number=params.get("To") or request["leg_b_number"],
                               status=status)
    await callbacks.update_leg(p.db, sid=sid, sequence=sequence, status=status)
    if status == "in-progress":
        await note_leg_b_answered(p, request, sid=sid, to=params.get("To"))
    if status in FINAL:
        leg = await callbacks.get_leg(p.db, sid=sid)
        duration = _int(params.get("CallDuration"), 0, most=MAX_SECONDS) if status == "completed" else 0
        await _write_cdr(p, request, sid=sid, leg="b", number=leg["to_number"], status=status, duration=duration,
                         ended_at=ended_at)


async def note_leg_b_answered(p: Platform, request, *, sid: str, to: str | None) -> None:
    """Leg B was answered: count one connected call for the session, whichever report comes first.

    Both the leg's own status callback and the Dial action say so, in either
    order; the leg row's answer time makes the second one a no-op.
    """
    await callbacks.ensure_leg(p.db, request_id=request["id"], leg="b", sid=sid, direction="outbound-dial",
                               from_number=request["leg_a_from"], to_number=to or request["leg_b_number"],
                               status="in-progress")
    if await callbacks.finish_answer_once(p.db, sid=sid):
        await callbacks.increment(p.db, request_id=request["id"], column="calls_connected")
        if request["state"] == states.CALLING_B:
            await callbacks.transition(p.db, request, states.CONNECTED, detail=to)


async def record_status(p: Platform, *, request_id: int, leg: str, params: dict,
                        ended_at: dt.datetime | None = None) -> None:
    """Apply one status callback of leg `leg` ("a" or "b"); `ended_at`: when a final one happened, if not now."""
    request = await callbacks.get_request(p.db, request_id=request_id)
    sid = params.get("CallSid") or ""
    status = (params.get("CallStatus") or "").lower()
    # Signed, so from the provider; still, nothing that cannot be a call's sid or
    # status is stored (and the numbers are cut to what a number can be).
    if request is None or not (sid.isascii() and sid.isalnum() and len(sid) <= 64) or status not in KNOWN_STATUSES:
        return
    params = dict(params, From=storable(params.get("From"), 32), To=storable(params.get("To"), 32))
    sequence = _int(params.get("SequenceNumber"))
    if leg == "a":
        await _leg_a(p, request, params, status, sequence, ended_at)
    elif leg == "b":
        await _leg_b(p, request, params, status, sequence, ended_at)


async def act_on_recorded_end(p: Platform, *, request_id: int, leg) -> None:
    """Move a request on from its leg A's end as the CDR row `leg` records it.

    For a request left live by a process that died after writing that CDR and
    before acting on it: the same path as the repeat of its final callback.
    """
    params = {"CallSid": leg["provider_sid"], "CallStatus": leg["status"],
              "CallDuration": str(leg["duration_seconds"] or 0), "SequenceNumber": str(PROVIDER_RECORD_SEQUENCE)}
    await record_status(p, request_id=request_id, leg="a", params=params)


async def record_end_from_provider(p: Platform, *, request_id: int, leg: str, call: ProviderCall,
                                   from_number: str | None, to_number: str | None) -> None:
    """Settle a leg from the provider's record of its end, as its lost final status callback would have."""
    if call.status not in FINAL:
        return
    params = {"CallSid": call.sid, "CallStatus": call.status, "CallDuration": str(call.duration or 0),
              "From": from_number or "", "To": to_number or "", "SequenceNumber": str(PROVIDER_RECORD_SEQUENCE)}
    # The provider's clock may run ahead of ours (the sandbox's does, on purpose): never a future end.
    ended_at = min(call.end_time, utcnow()) if call.end_time else None
    await record_status(p, request_id=request_id, leg=leg, params=params, ended_at=ended_at)


async def settle_from_known(p: Platform, *, leg, why: str) -> None:
    """End an open leg whose end the provider cannot tell, from what the app knows, and its session with it.

    For a leg the provider does not know (it forgot its calls, or never placed
    this one) or that is older than any call may last while the provider keeps
    failing to say how it ended. Its CDR bills it from its answer to the last
    moment the app knew the session was up (the request's last change), at least
    the first increment if it was answered; leg A's end then ends the session:
    completed if a call was connected, else failed `provider_error`, with `why`
    as the event's detail. The hold is released and the account's slot freed.
    """
    request = await callbacks.get_request(p.db, request_id=leg["request_id"])
    if request is None:
        return
    last_seen = max(t for t in (request["updated_at"], leg["started_at"], leg["answered_at"]) if t is not None)
    if leg["answered_at"] is not None:
        status = "completed"
        duration = min(MAX_SECONDS, max(1, int((last_seen - leg["answered_at"]).total_seconds())))
    else:
        status, duration = "failed", 0
    log.warning("request %s: leg %s %s settled as %s (%s s) from what is known: %s", request["id"], leg["leg"],
                leg["provider_sid"], status, duration, why, extra={"callback_id": request["id"]})
    await callbacks.update_leg(p.db, sid=leg["provider_sid"], sequence=PROVIDER_RECORD_SEQUENCE, status=status)
    number = request["leg_a_number"] if leg["leg"] == "a" else leg["to_number"]
    await _write_cdr(p, request, sid=leg["provider_sid"], leg=leg["leg"], number=number, status=status,
                     duration=duration, ended_at=last_seen)
    if leg["leg"] != "a" or request["leg_a_sid"] != leg["provider_sid"]:
        return  # a second party, or an earlier attempt's leg A: the session goes on without it
    for _ in range(5):
        if request["state"] in states.TERMINAL:
            break
        if request["calls_connected"] > 0 and request["state"] in states.LIVE:
            moved = await callbacks.transition(p.db, request, states.COMPLETED, detail=why)
        else:
            moved = await callbacks.transition(p.db, request, states.FAILED, reason=states.PROVIDER_ERROR,
                                               detail=why)
        if moved:
            break
        request = await callbacks.get_request(p.db, request_id=request["id"])
    await _release_if_over(p, request["id"])
