"""The request state machine (app/calls/machine.py): its table, and the moves it refuses."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
from pathlib import Path

import pytest

from app.calls import machine
from app.core import states
from app.data import callbacks
from app.data.db import make_database, utcnow

ALL_STATES = [machine.NEW, *states.TRANSITIONS]

# Every event's allowed moves, written out: a change to the table has to change this too.
EXPECTED = {
    machine.ACCEPTED: {("new", "queued")},
    machine.REFUSED: {("new", "failed")},
    machine.CLAIMED: {("queued", "calling_a")},
    machine.NOT_PLACED: {("calling_a", "queued"), ("calling_a", "failed")},
    machine.EXPIRED: {("queued", "failed")},
    machine.LEG_A_ANSWERED: {("calling_a", "a_answered")},
    machine.LEG_A_ENDED: {("calling_a", "queued"), ("calling_a", "failed")}
    | {(live, end) for live in ("a_answered", "calling_b", "connected") for end in ("completed", "failed")},
    machine.PIN_REFUSED: {("a_answered", "failed")},
    machine.HUNG_UP: {(live, end) for live in ("a_answered", "calling_b", "connected")
                      for end in ("completed", "failed")},
    machine.LEG_B_DIALLED: {("a_answered", "calling_b")},
    machine.LEG_B_ANSWERED: {("calling_b", "connected")},
    machine.LEG_B_ENDED: {("calling_b", "a_answered"), ("connected", "a_answered")},
    machine.CANCELED: {(s, "failed") for s in ("queued", "calling_a", "a_answered", "calling_b", "connected")},
    machine.SETTLED: {("queued", "failed"), ("calling_a", "failed")}
    | {(live, end) for live in ("a_answered", "calling_b", "connected") for end in ("completed", "failed")},
}


def allowed_moves(event: str) -> set[tuple[str, str]]:
    return {(a, b) for a, b in itertools.product(ALL_STATES, repeat=2) if machine.allows(event, a, b)}


@pytest.mark.parametrize("event", sorted(machine.TABLE))
def test_each_event_allows_exactly_its_moves(event):
    assert allowed_moves(event) == EXPECTED[event]


def test_the_events_cover_the_state_graph_and_nothing_more():
    moves = set().union(*(allowed_moves(event) for event in machine.TABLE))
    graph = {(a, b) for a, targets in states.TRANSITIONS.items() for b in targets}
    assert {(a, b) for a, b in moves if a != machine.NEW} == graph
    assert not any(a in states.TERMINAL for a, _ in moves)


def test_an_unknown_event_moves_nothing():
    assert not machine.allows("teleported", states.QUEUED, states.CALLING_A)


@pytest.fixture
async def db(settings):
    database = make_database(settings)
    await database.connect()
    yield database
    await database.disconnect()


async def test_an_illegal_move_is_refused_and_writes_nothing(db):
    request_id, created = await machine.accept(db, trigger_kind="api", trigger_id="t1", leg_a_number="+14155550100")
    assert created
    row = await callbacks.get_request(db, request_id=request_id)
    assert row["state"] == states.QUEUED
    # Answered before it was dialled; a leg B ended on a request that never dialled one.
    assert not await machine.move(db, row, machine.LEG_A_ANSWERED, states.A_ANSWERED)
    assert not await machine.move(db, row, machine.LEG_B_ENDED, states.A_ANSWERED)
    # A legal pair of states, but not for this event.
    assert not await machine.move(db, row, machine.PIN_REFUSED, states.FAILED)
    assert (await callbacks.get_request(db, request_id=request_id))["state"] == states.QUEUED
    assert await callbacks.list_events(db, request_id=request_id) == []
    # The legal one moves it, with its event row.
    assert await machine.move(db, row, machine.EXPIRED, states.FAILED, reason=states.EXPIRED, detail="late")
    [event] = await callbacks.list_events(db, request_id=request_id)
    assert (event["from_state"], event["to_state"], event["reason"]) == ("queued", "failed", "expired")
    # The row as last read is stale now: the same move again is refused.
    assert not await machine.move(db, row, machine.EXPIRED, states.FAILED, reason=states.EXPIRED)


async def test_a_refused_trigger_is_written_failed_with_its_event(db):
    request_id, created = await machine.refuse(db, reason=states.RATE_LIMITED, detail="too many", trigger_kind="api",
                                               trigger_id="t2", leg_a_number="+14155550100")
    assert created
    [event] = await callbacks.list_events(db, request_id=request_id)
    assert (event["from_state"], event["to_state"], event["reason"]) == (None, "failed", "rate_limited")


async def test_a_session_end_is_completed_once_a_call_was_connected(db):
    now = utcnow()
    request_id, _ = await machine.accept(db, trigger_kind="api", trigger_id="t3", leg_a_number="+14155550100",
                                         due_at=now, expires_at=now + dt.timedelta(hours=1))
    [row] = await machine.claim(db, now=now, limit=1)
    assert await machine.move(db, row, machine.LEG_A_ANSWERED, states.A_ANSWERED)
    row = await callbacks.update_request(db, request_id=request_id, calls_connected=1)
    await machine.end_session(db, row, machine.HUNG_UP, reason=states.CANCELED, detail="bye")
    row = await callbacks.get_request(db, request_id=request_id)
    assert (row["state"], row["reason"]) == (states.COMPLETED, None)


def test_only_the_machine_and_the_data_layer_write_a_request_state():
    """The state column is written by app/data/callbacks.py's queries, which only the machine calls."""
    root = Path(__file__).resolve().parents[2]
    found = subprocess.run(
        ["grep", "-rlE", r"callbacks\.(transition|transition_row|create_request|claim_due)\(|values\(state=", "app"],
        cwd=root, capture_output=True, text=True,
    ).stdout.split()
    assert sorted(found) == ["app/calls/machine.py", "app/data/callbacks.py"]
