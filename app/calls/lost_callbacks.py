"""Legs whose final status callback never arrived: ask the provider, and settle them as that callback would have.

The provider reports a leg's end once, in a status callback. If the app cannot
take it (down, restarting, its database unreachable) nothing repeats it: the
request would stay live for ever, keep its balance reservation and count
against the account's calls at once. So open legs (no end recorded) are
checked against the provider's call record:

- after housekeeping has not run for a while (this process just started, or
  its database was unreachable), every open leg whose request was quiet
  before then, once: that is when callbacks are lost;
- otherwise, open legs whose request has been quiet for QUIET_SECONDS, at most
  every RECHECK_SECONDS while the provider says they are still up (a callback
  lost any other way, and long calls, which are legitimately quiet).

A process can also die halfway through taking a final callback, which the
provider then counts as refused: a request whose leg A sid was recorded but not
its leg row first gets the row the status callback would have written; a
request still live although its leg A's end is in the CDR is moved on from it.

A leg the provider cannot give an end for is settled from what the app knows
(leg_status.settle_from_known), with the reason in the request's events, when
waiting cannot tell more: the provider does not know it (404: a carrier that
forgot its calls when it restarted), or it is older than any call may last (its
ringing, leg A's longest TimeLimit and a margin) while the provider keeps
failing or still calls it up. Nothing else ends it: without this, the request
would hold its balance and its account's slot for ever.

A leg the provider says has ended goes through leg_status as a final status
callback would (second parties first: their cost is charged from the hold
that leg A's end releases), so its CDR, the reservation and the request's
state settle exactly as if the callback had come; a real callback arriving
later finds the work done.
"""

from __future__ import annotations

import datetime as dt
import logging

from app.billing import pricing as billing, provider_prices
from app.billing import call_records
from app.calls import leg_status
from app.data import callbacks, open_legs
from app.data.db import Database, utcnow
from app.platform import Platform
from app.providers.events import leg_status_from_record
from app.providers.interface import ProviderCall, ProviderError, ProviderTimeout, error_kind, is_not_found

log = logging.getLogger(__name__)

QUIET_SECONDS = 300
RECHECK_SECONDS = 300
# Housekeeping runs every second; a longer pause means webhooks may have gone unanswered meanwhile.
GAP_SECONDS = 10
QUIET_PASS_SECONDS = 10  # the quiet check looks for minutes of silence: no need to look every second
BATCH = 20  # requests looked at per pass; their open legs are fetched concurrently
OVERDUE_MARGIN_SECONDS = 15 * 60


async def _record_unrecorded_legs_a(db: Database, *, quiet_before: dt.datetime, limit: int) -> None:
    """Write the missing row of a placed leg A, as its first status callback would have, so it can be checked."""
    for row in await open_legs.placed_legs_a_without_row(db, quiet_before=quiet_before, limit=limit):
        await callbacks.ensure_leg(db, request_id=row["id"], leg="a", sid=row["leg_a_sid"], direction="outbound-api",
                                   from_number=row["leg_a_from"], to_number=row["leg_a_number"], status="queued",
                                   provider=row["provider"])


async def resume_ended_legs_a(p: Platform, now: dt.datetime, *, quiet_before: dt.datetime,
                              checked_before: dt.datetime, limit: int = BATCH) -> tuple[int, int]:
    """Move on the requests still live although their leg A's end is recorded: (found, moved on)."""
    legs = await open_legs.live_after_leg_a_ended(p.db, quiet_before=quiet_before, checked_before=checked_before,
                                                  limit=limit)
    resumed = 0
    for leg in legs:
        if await open_legs.claim_check(p.db, leg, now):
            log.warning("request %s: leg A %s ended %s but the request was left %s; moving it on",
                        leg["live_request_id"], leg["provider_sid"], leg["status"], leg["request_state"],
                        extra={"callback_id": leg["live_request_id"]})
            await leg_status.act_on_recorded_end(p, request_id=leg["live_request_id"], leg=leg)
            resumed += 1
    return len(legs), resumed


async def check_open_legs(p: Platform, now: dt.datetime, *, quiet_before: dt.datetime,
                          checked_before: dt.datetime, limit: int = BATCH) -> tuple[int, int]:
    """Settle up to `limit` quiet requests' open legs, and as many left live after their leg A's end.

    Returns (requests looked at, legs settled or moved on).
    """
    await _record_unrecorded_legs_a(p.db, quiet_before=quiet_before, limit=limit)
    request_ids = await open_legs.quiet_requests_with_open_legs(p.db, quiet_before=quiet_before,
                                                                checked_before=checked_before, limit=limit)
    legs = await open_legs.open_legs(p.db, request_ids=request_ids)  # per request: b before a
    claimed = [leg for leg in legs if await open_legs.claim_check(p.db, leg, now)]
    settled = 0
    overdue_before = now - dt.timedelta(seconds=longest_leg_seconds(p))
    for leg, answer in await call_records.lookup(p, claimed, why="an open leg"):
        if not isinstance(answer, ProviderCall) or answer.status not in leg_status.FINAL:
            if await _settle_unknown(p, leg, answer, overdue=leg["started_at"] < overdue_before):
                settled += 1
            continue
        log.info("request %s: leg %s %s ended %s at the provider, its final status callback never came",
                 leg["request_id"], leg["leg"], leg["provider_sid"], answer.status,
                 extra={"callback_id": leg["request_id"]})
        event = leg_status_from_record(answer, caller=leg["from_number"], called=leg["to_number"], now=utcnow())
        await leg_status.record_status(p, request_id=leg["request_id"], leg=leg["leg"], event=event)
        if (cost := provider_prices.known_cost(answer)) is not None:
            await provider_prices.store(p.db, sid=leg["provider_sid"], cost=cost)  # saves asking again for it
        settled += 1
    # After the second parties' ends above: their cost is charged from the hold that leg A's end releases.
    found, resumed = await resume_ended_legs_a(p, now, quiet_before=quiet_before, checked_before=checked_before,
                                               limit=limit)
    return max(len(request_ids), found), settled + resumed


def longest_leg_seconds(p: Platform) -> int:
    """How long after its creation a leg has certainly ended at the carrier: ringing, the longest
    leg A (its TimeLimit, app/billing/pricing.py) and a margin for clocks and queues."""
    return p.settings.leg_a_timeout_seconds + billing.LEG_A_MAX_SECONDS + OVERDUE_MARGIN_SECONDS


async def _settle_unknown(p: Platform, leg, answer, *, overdue: bool) -> bool:
    """Settle a leg the provider gave no end for, when waiting longer cannot tell more; whether it did.

    Not found: the provider forgot the call (a restarted carrier) or never had it,
    and no status callback will ever come. Overdue: older than any call may last,
    so it has ended whatever the provider says (or fails to say).
    """
    if is_not_found(answer):
        why = "the provider does not know the call; settled from what was known"
    elif overdue:
        if isinstance(answer, ProviderCall):
            # Still up, it says, past its TimeLimit: end it, so that it costs nothing more.
            try:
                await p.provider_for(leg["provider"]).end_call(leg["provider_sid"])
            except (ProviderError, ProviderTimeout) as exc:
                log.warning("could not end overdue call %s: %s", leg["provider_sid"], exc,
                            extra={"callback_id": leg["request_id"]})
            seen = f"still {answer.status or 'open'} at the provider"
        else:
            seen = f"the provider answered {error_kind(answer)}"
        why = f"no end reported within {longest_leg_seconds(p)} s, {seen}; settled from what was known"
    else:
        return False
    await leg_status.settle_from_known(p, leg=leg, why=why)
    return True


class LostCallbacks:
    """The housekeeping step, with what it remembers between passes: when it last ran."""

    def __init__(self, p: Platform):
        self.p = p
        self.started_at = utcnow()
        self.last_pass: dt.datetime | None = None
        self.last_quiet_check: dt.datetime | None = None
        # While set: also check every open leg whose request was quiet before this time.
        self.sweep_before: dt.datetime | None = None

    async def run(self, now: dt.datetime) -> int:
        """One pass; how many legs were found ended at the provider and settled."""
        if self.last_pass is None:
            # Whatever ended while the app was down (or since it started, if its first passes failed).
            late = (now - self.started_at).total_seconds() > GAP_SECONDS
            self.sweep_before = now if late else self.started_at
        elif (now - self.last_pass).total_seconds() > GAP_SECONDS:
            self.sweep_before = now
        settled = 0
        if self.sweep_before is not None:
            looked_at, settled = await check_open_legs(self.p, now, quiet_before=self.sweep_before,
                                                       checked_before=self.sweep_before)
            if looked_at < BATCH:
                self.sweep_before = None
        if self.last_quiet_check is None or (now - self.last_quiet_check).total_seconds() >= QUIET_PASS_SECONDS:
            _, more = await check_open_legs(self.p, now, quiet_before=now - dt.timedelta(seconds=QUIET_SECONDS),
                                            checked_before=now - dt.timedelta(seconds=RECHECK_SECONDS))
            settled += more
            self.last_quiet_check = now
        # Only a pass that got this far counts: one that failed (the database down) leaves a gap behind it.
        self.last_pass = now
        return settled
