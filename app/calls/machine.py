"""The callback request's state machine: the only writer of a request's state.

Every module that moves a request names the event that moves it; the table
below says from which states that event may move it, and to which. The writes
are the data layer's three state-writing queries (app/data/callbacks.py:
insert, conditional transition, claim), each with its event row and a log
line. A move the table does not allow is refused (False), as is one that lost
a race: the row was no longer in the state its caller last read.

    event              from                               to
    accepted           (new)                              queued
    refused            (new)                              failed      at the trigger: caps, policy, balance
    claimed            queued                             calling_a   the dispatcher takes it
    not_placed         calling_a                          queued      no slot, no hold, provider refused (retry)
                                                          failed      insufficient funds, provider error
    expired            queued                             failed
    leg_a_answered     calling_a                          a_answered
    leg_a_ended        calling_a                          queued      busy / no answer, retried
                                                          failed      no retry left
                       a_answered, calling_b, connected   completed   a call was connected, else failed
    pin_refused        a_answered                         failed      the third wrong PIN
    hung_up            a_answered, calling_b, connected   completed   the IVR ends the session: a call was
                                                          failed      connected, else failed with its reason
    leg_b_dialled      a_answered                         calling_b
    leg_b_answered     calling_b                          connected
    leg_b_ended        calling_b, connected               a_answered  the next call may be offered
    canceled           any live state or queued           failed
    settled            any live state or queued           completed   the provider cannot tell how leg A ended
                                                          failed

"placed" (leg A's sid recorded) and "PIN accepted" (the account known) do not
move the state; they are here so that the sid is taken in one place.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from app.core import states
from app.data import callbacks
from app.data.db import Database

log = logging.getLogger(__name__)

NEW = "new"  # not a state: a request not yet written

ACCEPTED = "accepted"
REFUSED = "refused"
CLAIMED = "claimed"
NOT_PLACED = "not_placed"
EXPIRED = "expired"
LEG_A_ANSWERED = "leg_a_answered"
LEG_A_ENDED = "leg_a_ended"
PIN_REFUSED = "pin_refused"
HUNG_UP = "hung_up"
LEG_B_DIALLED = "leg_b_dialled"
LEG_B_ANSWERED = "leg_b_answered"
LEG_B_ENDED = "leg_b_ended"
CANCELED = "canceled"
SETTLED = "settled"

S = states
OPEN = frozenset({S.QUEUED, S.CALLING_A}) | S.LIVE  # not yet over


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    targets: frozenset[str]


def _m(sources, *targets: str) -> Move:
    return Move(frozenset(sources), frozenset(targets))


TABLE: dict[str, Move] = {
    ACCEPTED: _m({NEW}, S.QUEUED),
    REFUSED: _m({NEW}, S.FAILED),
    CLAIMED: _m({S.QUEUED}, S.CALLING_A),
    NOT_PLACED: _m({S.CALLING_A}, S.QUEUED, S.FAILED),
    EXPIRED: _m({S.QUEUED}, S.FAILED),
    LEG_A_ANSWERED: _m({S.CALLING_A}, S.A_ANSWERED),
    LEG_A_ENDED: _m({S.CALLING_A} | S.LIVE, S.QUEUED, S.COMPLETED, S.FAILED),
    PIN_REFUSED: _m({S.A_ANSWERED}, S.FAILED),
    HUNG_UP: _m(S.LIVE, S.COMPLETED, S.FAILED),
    LEG_B_DIALLED: _m({S.A_ANSWERED}, S.CALLING_B),
    LEG_B_ANSWERED: _m({S.CALLING_B}, S.CONNECTED),
    LEG_B_ENDED: _m({S.CALLING_B, S.CONNECTED}, S.A_ANSWERED),
    CANCELED: _m(OPEN, S.FAILED),
    SETTLED: _m(OPEN, S.COMPLETED, S.FAILED),
}


def allows(event: str, from_state: str, to_state: str) -> bool:
    """Whether `event` may move a request from `from_state` to `to_state` (also a pair that
    app/core/states.py allows: the event narrows the state graph, never widens it)."""
    move = TABLE.get(event)
    return (move is not None and from_state in move.sources and to_state in move.targets
            and (from_state == NEW or states.can_move(from_state, to_state)))


async def move(db: Database, request, event: str, to_state: str, *, reason: str | None = None,
               detail: str | None = None, **values) -> bool:
    """Move `request` (the row as last read) on `event`; False if the table refuses it or someone moved it first."""
    if not allows(event, request["state"], to_state):
        log.debug("request %s: %s refused in state %s (to %s)", request["id"], event, request["state"], to_state)
        return False
    return await callbacks.transition(db, request, to_state, reason=reason, detail=detail, **values)


async def advance(db: Database, request, event: str, to_state: str, *, reason: str | None = None,
                  detail: str | None = None, **values):
    """`move`, returning the row as the move left it (None if refused or lost): no need to read it again."""
    if not allows(event, request["state"], to_state):
        log.debug("request %s: %s refused in state %s (to %s)", request["id"], event, request["state"], to_state)
        return None
    return await callbacks.transition_row(db, request, to_state, reason=reason, detail=detail, **values)


# Writing a request -----------------------------------------------------------


async def accept(db: Database, **values) -> tuple[int | None, bool]:
    """Write a queued request unless its trigger was seen before: (id, created)."""
    return await callbacks.create_request(db, state=S.QUEUED, **values)


async def refuse(db: Database, *, reason: str, detail: str | None, **values) -> tuple[int | None, bool]:
    """Write a trigger refused before anything was dialled: failed with `reason`, its event row with it."""
    return await callbacks.create_request(db, state=S.FAILED, reason=reason, detail=detail, **values)


async def claim(db: Database, *, now: dt.datetime, limit: int):
    """Claim up to `limit` due requests for dialling (queued → calling_a); the claimed rows."""
    return await callbacks.claim_due(db, now=now, limit=limit)


# Leg A -----------------------------------------------------------------------


async def routed(db: Database, request, *, provider: str, attempts: int | None = None):
    """Leg A is about to be placed with `provider` (app/calls/routing.py): the row as it now is, None if it
    moved meanwhile. Written before the create call, so a create that gets no answer is failed over from
    the right provider; `attempts` restarts the retry budget at a provider it was failed over to."""
    return await callbacks.route_leg_a(db, request, provider=provider, attempts=attempts)


async def placed(db: Database, *, request_id: int, sid: str, provider: str | None = None) -> bool:
    """The provider placed leg A with this sid (the create call's answer).

    `provider`: which one; refused if the request has been failed over from it meanwhile.
    """
    return await callbacks.attach_leg_a(db, request_id=request_id, sid=sid, provider=provider)


async def adopt_leg_a(db: Database, request, sid: str, *, provider: str | None = None):
    """A webhook of a leg A whose create call has not been answered yet: it is this request's leg.

    The create call's answer may land meanwhile, so whichever wrote the sid wins,
    and the row is read back. The request as it now is. `provider`: the provider
    the webhook's URL was given to; a call of a provider the request has been
    failed over from is never adopted (the caller ends it as a duplicate).
    """
    if request["leg_a_sid"] is None and request["state"] == S.CALLING_A:
        await placed(db, request_id=request["id"], sid=sid, provider=provider)
        return await callbacks.get_request(db, request_id=request["id"])
    return request


async def end_session(db: Database, request, event: str, *, reason: str | Callable[[object], str],
                      detail: str | None, completed_detail: str | None = None, tries: int = 5):
    """End a session on `event`: completed if a call was connected, else failed with `reason`; the row as
    the end left it (None when the event no longer applies, or the races were all lost).

    `reason` may be a function of the row as it is when the end is written (the
    last leg B's outcome, say); `completed_detail`, the completed end's detail if
    not `detail`. Webhooks race here (leg A's end and the Dial action both come
    as leg A hangs up), so on a lost race the row is read again and the end
    tried again, until it is over or the event no longer applies to it.
    """
    sources = TABLE[event].sources
    for _ in range(tries):
        if request["state"] not in sources:
            return
        if request["calls_connected"] > 0 and request["state"] in S.LIVE:
            moved = await advance(db, request, event, S.COMPLETED,
                                  detail=detail if completed_detail is None else completed_detail)
        else:
            why = reason(request) if callable(reason) else reason
            moved = await advance(db, request, event, S.FAILED, reason=why, detail=detail)
        if moved is not None:
            return moved
        request = await callbacks.get_request(db, request_id=request["id"])
