"""Status callbacks (LegStatus events): leg progress, CDRs, and what a leg's end does to its request.

A leg's end may also come from the provider's call record instead of its final
status callback, when that callback was lost (app/calls/lost_callbacks.py): the
same LegStatus event, built from the record, takes the same path, so it settles
the request exactly as the callback would have.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from app.calls import machine
from app.data import accounts, callbacks, rates, resellers
from app.billing import pricing as billing, provider_prices, reservations
from app.core import states
from app.core.ids import is_provider_id
from app.data.db import storable, utcnow
from app.platform import Platform
from app.providers.events import FROM_RECORD_SEQUENCE, LegStatus
from app.providers.interface import ProviderError, ProviderTimeout

log = logging.getLogger(__name__)

FINAL = {"completed", "busy", "no-answer", "failed", "canceled"}


KNOWN_STATUSES = {"queued", "initiated", "ringing", "in-progress", "answered"} | FINAL
MAX_SECONDS = 7 * 24 * 3600  # no call lasts longer; a larger duration is not the provider's
PROVIDER_RECORD_SEQUENCE = FROM_RECORD_SEQUENCE  # the sequence of a leg's end read from the provider's record


def _duration(event: LegStatus) -> int:
    """The seconds a leg lasted: only a completed leg lasted, and never longer than any call may."""
    if event.status != "completed" or event.duration is None or event.duration > MAX_SECONDS:
        return 0
    return event.duration


async def _write_cdr(p: Platform, request, *, sid: str, leg: str, number: str | None, status: str,
                     duration: int, ended_at: dt.datetime | None, release_rest: bool = False) -> None:
    """The leg's CDR and its charge. `release_rest`: the session is over, so what is left of the request's hold
    is released with the charge, in the same transaction (and even if this is a repeated final callback)."""
    if "account" in request:
        account = request["account"]  # read with the request (callbacks.get_request_with_account)
    else:
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
    margins = await reseller_margins(p, account, number=number, duration=duration, cost=cost)
    ended_at = ended_at or utcnow()
    # The CDR and its charge together: a crash between them would leave a call unbilled.
    async with p.db.transaction():
        first_time = await callbacks.finish_leg_once(
            p.db, sid=sid, status=status, ended_at=ended_at, duration_seconds=duration, billed_seconds=billed,
            rate_prefix=rate.prefix if rate else None, price_per_minute=rate.price_per_minute if rate else None,
            cost=cost, price_check_at=provider_prices.first_check_at(ended_at), **margins,
        )
        # Only the first final callback bills: providers repeat callbacks.
        if account is not None and ((first_time and cost) or release_rest):
            await reservations.spend(p.db, request_id=request["id"], account_id=account["id"],
                                     cost=cost if first_time else 0, release_all=release_rest,
                                     reseller_cost=(margins.get("reseller_cost") or 0) if first_time else 0,
                                     held=request["reserved"], within=True)


async def reseller_margins(p: Platform, account, *, number: str | None, duration: int, cost: int) -> dict:
    """A reseller's account's leg: what the reseller owes for it (the operator's tariff for the reseller, on
    the same billed time) and its margin. Nothing for the operator's own accounts."""
    if account is None or account["reseller_id"] is None:
        return {}
    reseller = await resellers.get_reseller(p.db, reseller_id=account["reseller_id"])
    rate = await rates.find_rate(p.db, number=number, tariff=reseller["tariff"]) if number and duration > 0 else None
    # No buying rate for a number the reseller sold a call to: it owes what it charged, so the operator never loses.
    owed = billing.leg_cost(duration, rate, account["currency"])[1] if rate else cost
    return {"reseller_cost": owed, "reseller_margin": cost - owed}


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
        moved = await machine.move(
            p.db, request, machine.LEG_A_ENDED, states.QUEUED,
            detail=f"leg A {status}; retry {legs_tried} of {retries}",
            leg_a_sid=None, due_at=utcnow() + dt.timedelta(seconds=delay),
        )
        if moved:
            p.wake_dispatcher()
        return
    await machine.move(p.db, request, machine.LEG_A_ENDED, states.FAILED, reason=reason, detail=f"leg A {status}")


async def _leg_a(p: Platform, request, event: LegStatus, provider: str | None) -> None:
    sid, status = event.call_id, event.status
    # Known as this request's leg A (nearly always): its status is moved on in the same statement that says so.
    applied = event.sequence is not None and await callbacks.update_own_leg(
        p.db, request_id=request["id"], leg="a", sid=sid, sequence=event.sequence, status=status)
    known = applied or await callbacks.get_leg(p.db, sid=sid) is not None
    if not known:
        # The create call's response may not have been recorded yet: then this is its leg.
        request = await machine.adopt_leg_a(p.db, request, sid, provider=provider)
        if request["leg_a_sid"] != sid:
            log.warning("request %s: status for a leg A %s that is not its own", request["id"], sid, extra={"callback_id": request["id"]})
            await _end_duplicate(p, request, sid=sid, status=status, provider=provider)
            return
        await callbacks.ensure_leg(p.db, request_id=request["id"], leg="a", sid=sid, direction="outbound-api",
                                   from_number=event.caller, to_number=request["leg_a_number"], status=status,
                                   provider=provider or request["provider"])
    if not applied:
        await callbacks.update_leg(p.db, sid=sid, sequence=event.sequence, status=status)
    if status == "in-progress":
        await callbacks.finish_answer_once(p.db, sid=sid)
    if status not in FINAL:
        return
    # Ended by the IVR before leg A hung up, or ending now with it (the usual ends): what is left of its
    # hold is released with leg A's charge, in one transaction.
    over = request["state"] in states.TERMINAL and request["leg_a_sid"] == sid
    ending = request["leg_a_sid"] == sid and request["state"] in states.LIVE and request["state"] != states.CALLING_A
    await _write_cdr(p, request, sid=sid, leg="a", number=request["leg_a_number"], status=status,
                     duration=_duration(event), ended_at=event.ended_at, release_rest=over or ending)
    if request["leg_a_sid"] != sid or over:
        return  # the end of an earlier attempt, or of a session already over and settled
    # A repeated final callback is acted on too: if the process that took the first one died after the CDR
    # and before moving the request, only a repeat moves it. Each move is conditional on the state it
    # leaves, so the repeat of one that did move changes nothing.
    if request["state"] == states.CALLING_A:
        await _retry_or_fail_leg_a(p, request, status)
    else:
        ended = await _end_session(p, request)
        if ended is not None and not ended["reserved"]:
            return  # over, and holding nothing: released above, and nothing held since
    await _release_if_over(p, request["id"])


async def _end_duplicate(p: Platform, request, *, sid: str, status: str, provider: str | None) -> None:
    """A live call of a provider the request was failed over from (its create call timed out, and the
    call appeared after the grace): the request is placed elsewhere, so this one is ended, never adopted."""
    if provider is None or provider == request["provider"] or provider not in p.providers or status in FINAL:
        return
    log.warning("request %s: call %s at %s appeared after failing over to %s; ending it", request["id"], sid,
                provider, request["provider"], extra={"callback_id": request["id"]})
    try:
        await p.providers[provider].end_call(sid)
    except (ProviderError, ProviderTimeout) as exc:
        log.warning("could not end duplicate call %s: %s", sid, exc, extra={"callback_id": request["id"]})


async def _end_session(p: Platform, request):
    """Leg A hung up: the session is over, whatever step it was at (the machine retries lost races); the row
    as it ended (None if it was over already)."""
    if request["state"] not in states.LIVE:
        return None
    return await machine.end_session(p.db, request, machine.LEG_A_ENDED,
                                     reason=lambda row: row["last_b_reason"] or states.CANCELED,
                                     detail="leg A hung up before a call was connected", completed_detail="leg A ended")


async def _leg_b(p: Platform, request, event: LegStatus) -> None:
    sid, status = event.call_id, event.status
    if event.sequence is None:  # with one, `record_status` has written the leg's row from the report already
        await callbacks.ensure_leg(p.db, request_id=request["id"], leg="b", sid=sid, direction="outbound-dial",
                                   from_number=event.caller, to_number=event.called or request["leg_b_number"],
                                   status=status, provider=request["provider"])
        await callbacks.update_leg(p.db, sid=sid, sequence=event.sequence, status=status)
    if status == "in-progress":
        await note_leg_b_answered(p, request, sid=sid, to=event.called)
    if status in FINAL:
        leg = await callbacks.get_leg(p.db, sid=sid)
        await _write_cdr(p, request, sid=sid, leg="b", number=leg["to_number"], status=status,
                         duration=_duration(event), ended_at=event.ended_at)


async def note_leg_b_answered(p: Platform, request, *, sid: str, to: str | None):
    """Leg B was answered: count one connected call for the session, whichever report comes first.

    Both the leg's own status callback and the Dial action say so, in either
    order; the leg row's answer time makes the second one a no-op. The request's
    row as this report left it if it was the first, else None (nothing changed).
    """
    if not await callbacks.leg_answered(p.db, request_id=request["id"], leg="b", sid=sid, direction="outbound-dial",
                                        from_number=request["leg_a_from"], to_number=to or request["leg_b_number"],
                                        provider=request["provider"]):
        return None
    await callbacks.increment(p.db, request_id=request["id"], column="calls_connected")
    if request["state"] == states.CALLING_B:
        moved = await machine.advance(p.db, request, machine.LEG_B_ANSWERED, states.CONNECTED, detail=to)
        if moved is not None:
            return moved
    return await callbacks.get_request(p.db, request_id=request["id"])


async def record_status(p: Platform, *, request_id: int, leg: str, event: LegStatus,
                        provider: str | None = None) -> None:
    """Apply one status report of leg `leg` ("a" or "b"): a status callback, or a lost one's stand-in.

    `provider`: the provider named in the callback's URL (with several providers), whose call it reports.
    """
    sid = event.call_id
    # Signed, so from the provider; still, nothing that cannot be a call's sid or
    # status is stored (and the numbers are cut to what a number can be).
    if not is_provider_id(sid) or event.status not in KNOWN_STATUSES:
        return
    event = dataclasses.replace(event, caller=storable(event.caller, 32), called=storable(event.called, 32))
    progress = event.status not in FINAL and event.status != "in-progress"
    if event.sequence is not None and leg == "b":
        # Leg B's row written or moved on from this report in one statement, made from the request's row.
        await callbacks.second_leg_reported(p.db, request_id=request_id, sid=sid, from_number=event.caller,
                                            to_number=event.called, status=event.status, sequence=event.sequence)
        if progress:
            return  # ringing and the like: nothing else to do (nor when the report was stale)
    elif event.sequence is not None and (progress or event.status == "in-progress"):
        # Leg A's progress, its answer included: one statement when its row is known as this request's (and
        # the report is not older than one applied); else the whole way below.
        write = callbacks.update_own_leg if progress else callbacks.answer_own_leg
        if await write(p.db, request_id=request_id, leg=leg, sid=sid, sequence=event.sequence, status=event.status):
            return
    # A final report charges the leg: the account comes with the request, for its tariff and its hold.
    read = callbacks.get_request_with_account if event.status in FINAL else callbacks.get_request
    request = await read(p.db, request_id=request_id)
    if request is None:
        return
    if leg == "a":
        await _leg_a(p, request, event, provider if provider in p.providers else None)
    elif leg == "b":
        await _leg_b(p, request, event)


async def act_on_recorded_end(p: Platform, *, request_id: int, leg) -> None:
    """Move a request on from its leg A's end as the CDR row `leg` records it.

    For a request left live by a process that died after writing that CDR and
    before acting on it: the same path as the repeat of its final callback.
    """
    event = LegStatus(call_id=leg["provider_sid"], status=leg["status"], duration=leg["duration_seconds"] or 0,
                      sequence=PROVIDER_RECORD_SEQUENCE)
    await record_status(p, request_id=request_id, leg="a", event=event)


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
    await machine.end_session(p.db, request, machine.SETTLED, reason=states.PROVIDER_ERROR, detail=why)
    await _release_if_over(p, request["id"])
