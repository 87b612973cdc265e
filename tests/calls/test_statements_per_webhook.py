"""How many statements each webhook of a PIN callback sends the database, counted at the driver.

The trigger and the IVR steps are on every call's path, many times a second at peak: each
statement is a round trip (PostgreSQL) or a turn of the connection (SQLite). These bounds keep
what bench/README.md reports from creeping back up. Counted on SQLite, whose connection reports
every statement it runs, SQLAlchemy's and the prepared ones alike, BEGIN and COMMIT included
(PostgreSQL runs the same ones, and the advisory lock of a cap's transaction besides), with the
operator's data (numbers, rules, rates) already in the process's cache, as at any busy time: it
is read again once every few seconds, not once a call.
"""

from __future__ import annotations

import contextlib

import pytest

from app.core import states
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest
from tests.utils.provider import TwilioRecorder

# The most statements each webhook may send (bench/README.md, "Statements per webhook").
MOST = {"trigger": 2, "pin": 9, "destination": 9, "leg A's end": 11}


@pytest.fixture
def p(settings, engine):
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("counted by SQLite's trace of the statements it runs")
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        yield platform


@contextlib.contextmanager
def counted(p: PlatformUnderTest):
    """The statements the app's own connection runs meanwhile."""
    seen: list[str] = []

    async def trace():
        await p.platform.db.fetch_val("SELECT 1")  # the connection is open
        p.platform.db._link.connection.connection.dbapi_connection.set_trace_callback(seen.append)

    async def untrace():
        p.platform.db._link.connection.connection.dbapi_connection.set_trace_callback(None)

    p.run(trace)
    try:
        yield seen
    finally:
        p.run(untrace)


def test_a_pin_callbacks_webhooks_stay_within_their_statements(p):
    recorder = TwilioRecorder()
    # A first callback of the same kind, to the same destination: the operator's data is cached.
    warm = sc.Session(p, caller=sc.BOB_MOBILE, service_number=sc.PIN_NUMBER)
    warm.trigger()
    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    with counted(p) as trigger:
        s.trigger()
    assert s.row["state"] == states.QUEUED
    with recorder.cassette("calls_create.yaml"):
        assert p.dispatch() == 2  # the warming trigger's callback too
    for session in (warm, s):
        session.status_a("initiated")
        session.step("answer")
    warm.step("pin", Digits=sc.ALICE_PIN)
    warm.step("destination", Digits="2125550123")
    with counted(p) as pin:
        verbs = s.step("pin", Digits=sc.ALICE_PIN)
    assert verbs[0].name == "Gather" and not s.row["needs_pin"]
    with counted(p) as destination:
        verbs = s.step("destination", Digits="2125550123")
    assert any(verb.name == "Dial" for verb in verbs) and s.row["state"] == states.CALLING_B
    assert len(trigger) <= MOST["trigger"], trigger
    assert [statement.split()[0] for statement in trigger] == ["INSERT", "INSERT"]  # the count, the row
    assert len(pin) <= MOST["pin"], pin
    assert len(destination) <= MOST["destination"], destination
    # Leg B is answered and hangs up, the IVR hears of it, then leg A hangs up: its charge, the release of
    # the rest of the hold and the session's end.
    leg_b = tw.call_sid()
    for sequence, status in enumerate(("initiated", "ringing", "in-progress")):
        s.status_b(leg_b, status, sequence)
    s.status_b(leg_b, "completed", 3, duration=30)
    s.step("dialed", DialCallStatus="completed", DialCallSid=leg_b, DialCallDuration="30")
    with counted(p) as leg_a_end:
        s.status_a("completed", duration=60)
    row = s.row
    assert (row["state"], row["reserved"]) == (states.COMPLETED, 0)
    assert len(leg_a_end) <= MOST["leg A's end"], leg_a_end


def test_a_refused_trigger_is_its_count_its_row_and_its_event(p):
    for _ in range(p.platform.settings.trigger_limit):  # the caller uses up its limit
        sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER).trigger()
    with counted(p) as refused:
        sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER).trigger()
    rows = p.requests()
    assert rows[-1]["state"] == states.FAILED and rows[-1]["reason"] == states.RATE_LIMITED
    statements = [statement.split()[0].upper() for statement in refused]
    assert statements == ["INSERT", "BEGIN", "INSERT", "INSERT", "COMMIT"], refused  # count; row and event
