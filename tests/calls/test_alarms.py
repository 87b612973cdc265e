"""Alarms measured from the CDRs: a spend spike per account against its usual, short calls (ACD), and
ASR per destination prefix; each raised once and cleared when it is over (the ASR alarm driven by real
sandbox calls is in tests/e2e/test_alarms_e2e.py)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import sqlalchemy as sa

from app.calls import alarms
from app.data.db import utcnow
from app.data.tables import accounts, call_legs, callback_requests
from tests.utils.harness import PlatformUnderTest
from tests.utils.live import seed

_sids = itertools.count()


@pytest.fixture
def p(settings, engine):
    watched = settings.with_(alarm_min_calls=3, alarm_asr_below_percent=50, alarm_acd_below_seconds=10,
                             alarm_failed_run=0, alarm_spend_factor=5, alarm_spend_min=500)
    with PlatformUnderTest(watched, engine) as platform:
        platform.run(seed, platform.platform.db, watched.secret_key)
        yield platform


def cdr(engine, *, login="alice", to="+12125550123", ago=60, seconds=0, cost=0, provider=None):
    """One ended leg, `ago` seconds ago, as the billing writes it."""
    now = utcnow()
    ended = now - dt.timedelta(seconds=ago)
    with engine.begin() as c:
        account_id = c.execute(sa.select(accounts.c.id).where(accounts.c.login == login)).scalar()
        request_id = c.execute(callback_requests.insert().values(
            trigger_kind="api", trigger_id=f"t{next(_sids)}", account_id=account_id, state="completed",
            due_at=ended, expires_at=ended, created_at=ended, updated_at=ended)).inserted_primary_key[0]
        c.execute(call_legs.insert().values(
            request_id=request_id, leg="b", provider_sid=f"CA{next(_sids):032d}", direction="outbound-dial",
            to_number=to, status="completed" if seconds else "no-answer", started_at=ended,
            answered_at=ended if seconds else None, ended_at=ended, duration_seconds=seconds, cost=cost,
            provider=provider))


def kinds(readings) -> set[tuple[str, str]]:
    return {(r.kind, r.subject) for r in readings}


def test_a_spend_spike_is_raised_against_the_usual_and_clears(p, engine):
    check = lambda: p.run(alarms.check, p.platform)  # noqa: E731
    # Usual: 1.00 over the 24 hours before the window, so 1.00 / 24 per hour.
    cdr(engine, ago=5 * 3600, seconds=60, cost=100)
    cdr(engine, login="bob", ago=60, seconds=60, cost=400)  # new spending under ALARM_SPEND_MIN: no alarm
    cdr(engine, ago=60, seconds=60, cost=600)
    raised, cleared = check()
    assert kinds(raised) == {("spend_spike", "account:alice")} and cleared == []
    (spike,) = raised
    assert (spike.value, spike.threshold) == ("6.00 USD", "5x 0.04 USD")
    # The spending leaves the window (the CDR moved back in time): the spike is over.
    with engine.begin() as c:
        c.execute(call_legs.update().where(call_legs.c.cost.in_([400, 600]))
                  .values(ended_at=utcnow() - dt.timedelta(hours=2)))
    assert kinds(check()[1]) == {("spend_spike", "account:alice")}


def test_short_calls_and_unanswered_destinations_raise_acd_and_asr(p, engine):
    for _ in range(3):
        cdr(engine, to="+442071234567", seconds=4)   # answered, but 4 s each
        cdr(engine, to="+33123456789")               # France: never answered
    raised, _ = p.run(alarms.check, p.platform)
    assert kinds(raised) == {("acd", "prefix:44"), ("asr", "prefix:33"), ("acd", "provider:twilio")}
    for _ in range(3):
        cdr(engine, to="+33123456789", seconds=120)
        cdr(engine, to="+442071234567", seconds=120)
    _, cleared = p.run(alarms.check, p.platform)
    assert kinds(cleared) == kinds(raised)


def test_with_several_providers_each_one_is_measured_on_the_legs_it_placed(settings, engine):
    watched = settings.with_(providers=("twilio", "sandbox"), alarm_min_calls=3, alarm_asr_below_percent=50,
                             alarm_acd_below_seconds=0, alarm_failed_run=3, alarm_spend_factor=0)
    with PlatformUnderTest(watched, engine) as p:
        p.run(seed, p.platform.db, watched.secret_key)
        for _ in range(3):
            cdr(engine, provider="sandbox")                # unanswered at sandbox
            cdr(engine, seconds=60, provider="twilio")     # answered at twilio
        cdr(engine, seconds=60)                            # a leg naming no provider: the first's (twilio)
        raised, _ = p.run(alarms.check, p.platform)
        assert kinds(raised) == {("asr", "provider:sandbox"), ("failed_run", "provider:sandbox")}
