"""Provider prices: fetching a call from the provider, and the collector that stores what each leg cost.

The provider is the sandbox carrier over real HTTP (its Call resource is checked
against Twilio's OpenAPI schemas in tests/sandbox); the app's rows are written
by the real status-callback path, so each leg's price schedule is the one
production sets.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.data import callbacks
from app.calls import leg_status
from app.billing import provider_prices
from app.core import states
from app.data.db import utcnow
from app.main import create_app
from app.providers import twilio_events
from app.providers.twilio import ProviderError
from app.data.tables import call_legs
from sandbox import CallPricing, Carrier, Clock, Phone, serve
from tests.utils import twilio as tw

SERVICE = "+18005550001"
NY = "+12125550123"
BUSY = "+12125550124"
TALK = "<Response><Pause length='90'/></Response>"  # answered, then 90 s: two started minutes at the carrier


@pytest.fixture
async def carrier():
    carrier = Carrier(tw.ACCOUNT_SID, tw.AUTH_TOKEN, clock=Clock(speed=1000), cps=50,
                      default_phone=Phone(answer_after=1), pricing=CallPricing(Decimal("0.013"), "USD"))
    carrier.phones[BUSY] = Phone(answer="busy")
    yield carrier
    await carrier.aclose()


@pytest.fixture
async def platform(settings, carrier):
    """The app's platform (database, provider client) with the sandbox as its provider; no dispatcher running."""
    async with serve(carrier.app) as url:
        app = create_app(settings.with_(twilio_api_base=url))
        async with app.router.lifespan_context(app):
            yield app.state.platform


@pytest.fixture
def asked(platform, monkeypatch) -> list[str]:
    """The sids the app fetched from the provider, in order."""
    sids: list[str] = []
    fetch = platform.provider.fetch_call

    async def counting(sid):
        sids.append(sid)
        return await fetch(sid)

    monkeypatch.setattr(platform.provider, "fetch_call", counting)
    return sids


async def call_at_carrier(carrier: Carrier, to: str = NY) -> str:
    call = carrier.create_call(to=to, from_=SERVICE, twiml=TALK)
    await carrier.wait_idle(timeout=10)
    return call.sid


async def ended_leg(platform, sid: str, *, status: str = "completed", duration: int = 90) -> None:
    """A second-party leg ended as its final status callback reports it: the CDR, and its price schedule."""
    request_id, _ = await callbacks.create_request(platform.db, trigger_kind="api", trigger_id=sid,
                                                   state=states.CONNECTED, leg_b_number=NY)
    await leg_status.record_status(platform, request_id=request_id, leg="b", event=twilio_events.leg_status({
        "CallSid": sid, "CallStatus": status, "CallDuration": str(duration), "To": NY, "SequenceNumber": "3"}))


def leg_row(engine, sid: str):
    with engine.connect() as c:
        return c.execute(sa.select(call_legs).where(call_legs.c.provider_sid == sid)).mappings().one()


def later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


async def test_fetch_call_reads_the_providers_record(platform, carrier):
    sid = await call_at_carrier(carrier)
    call = await platform.provider.fetch_call(sid)
    assert (call.sid, call.status, call.price_unit) == (sid, "completed", "USD")
    assert 90 <= call.duration < 120 and call.price == Decimal("-0.02600") and isinstance(call.price, Decimal)
    assert call.end_time.tzinfo is None and call.end_time > call.start_time  # naive UTC, like the database
    busy = await platform.provider.fetch_call(await call_at_carrier(carrier, BUSY))
    assert (busy.status, busy.price, busy.price_unit) == ("busy", None, "USD")
    with pytest.raises(ProviderError) as missing:
        await platform.provider.fetch_call("CA" + "0" * 32)
    assert missing.value.status == 404 and not missing.value.retryable


async def test_a_leg_is_priced_after_it_ends_and_the_cost_is_stored_positive(platform, carrier, engine, asked):
    sid = await call_at_carrier(carrier)
    carrier.calls[sid].pricing.delay = 10**9  # ended, not rated yet: Twilio's price comes later
    await ended_leg(platform, sid)
    leg = leg_row(engine, sid)
    assert leg["price_check_at"] == leg["ended_at"] + dt.timedelta(seconds=provider_prices.FIRST_CHECK_SECONDS)
    assert leg["provider_price"] is None and leg["price_checks"] == 0

    assert await provider_prices.collect(platform, later(30)) == 0 and asked == []  # not due yet
    assert await provider_prices.collect(platform, later(61)) == 0 and asked == [sid]  # due; no price yet
    leg = leg_row(engine, sid)
    assert leg["provider_price"] is None and leg["price_checks"] == 1
    assert leg["price_check_at"] > later(61 + provider_prices.RETRY_SECONDS[0] - 5)  # the next try, later

    carrier.calls[sid].pricing.delay = 0  # rated now
    assert await provider_prices.collect(platform, later(400)) == 1 and asked == [sid, sid]
    leg = leg_row(engine, sid)
    assert (leg["provider_price"], leg["provider_price_unit"]) == (26_000, "USD")  # "-0.02600": 0.026 a cost
    assert (leg["price_check_at"], leg["price_checks"]) == (None, 2)
    assert await provider_prices.collect(platform, later(10**6)) == 0 and len(asked) == 2  # never asked again


async def test_a_leg_that_never_connected_costs_nothing(platform, carrier, engine):
    sid = await call_at_carrier(carrier, BUSY)
    await ended_leg(platform, sid, status="busy", duration=0)
    assert await provider_prices.collect(platform, later(61)) == 1
    assert (leg_row(engine, sid)["provider_price"], leg_row(engine, sid)["provider_price_unit"]) == (0, "USD")


async def test_the_collector_gives_up_after_a_bounded_number_of_tries(platform, carrier, engine, asked):
    sid = await call_at_carrier(carrier)
    carrier.calls[sid].pricing.delay = 10**9  # a provider that never prices it
    await ended_leg(platform, sid)
    moment = later(0)
    for _ in range(provider_prices.MAX_CHECKS + 2):
        moment += dt.timedelta(days=1)
        assert await provider_prices.collect(platform, moment) == 0
    assert len(asked) == provider_prices.MAX_CHECKS
    leg = leg_row(engine, sid)
    # Unknown, not zero: NULL, and no further tries scheduled.
    assert (leg["provider_price"], leg["price_check_at"]) == (None, None)
    assert leg["price_checks"] == provider_prices.MAX_CHECKS


async def test_a_call_the_provider_does_not_know_costs_a_try(platform, engine, asked):
    sid = "CA" + "f" * 32
    await ended_leg(platform, sid)
    assert await provider_prices.collect(platform, later(61)) == 0 and asked == [sid]
    leg = leg_row(engine, sid)
    assert leg["provider_price"] is None and leg["price_checks"] == 1 and leg["price_check_at"] is not None


async def test_collectors_of_several_instances_ask_once_per_leg(platform, carrier, engine, asked):
    sids = [await call_at_carrier(carrier) for _ in range(3)]
    for sid in sids:
        await ended_leg(platform, sid)
    moment = later(61)
    counts = await asyncio.gather(*(provider_prices.collect(platform, moment) for _ in range(4)))
    assert sum(counts) == 3 and sorted(asked) == sorted(sids)
    assert {leg_row(engine, sid)["provider_price"] for sid in sids} == {26_000}


def test_a_price_is_a_positive_cost_in_micro_units_rounded_up():
    assert provider_prices.cost_micros(Decimal("-0.01500")) == 15_000
    assert provider_prices.cost_micros(Decimal("0.0085")) == 8_500  # a provider that states charges as positive
    assert provider_prices.cost_micros(Decimal("-0.0000001")) == 1
    assert provider_prices.cost_micros(Decimal("-0")) == 0


async def test_the_operators_margin_is_what_it_was_paid_less_the_carriers_price(platform, carrier, engine):
    from app.data import accounts, rates

    account_id = await accounts.create_account(platform.db, secret_key="k", login="carol", password="carol-password",
                                               pin=None, balance=10_000)
    await rates.set_rate(platform.db, prefix="1", price_per_minute=50_000)  # 0.05 a minute, by the minute
    sid = await call_at_carrier(carrier)
    request_id, _ = await callbacks.create_request(platform.db, trigger_kind="api", trigger_id=sid,
                                                   account_id=account_id, state=states.CONNECTED, leg_b_number=NY)
    await leg_status.record_status(platform, request_id=request_id, leg="b", event=twilio_events.leg_status({
        "CallSid": sid, "CallStatus": "completed", "CallDuration": "90", "To": NY, "SequenceNumber": "3"}))
    assert leg_row(engine, sid)["operator_margin"] is None  # the carrier's price is not known yet
    assert await provider_prices.collect(platform, later(61)) == 1
    leg = leg_row(engine, sid)
    # Two started minutes sold at 0.05; the carrier charged 0.026, 3 cents rounded up.
    assert (leg["cost"], leg["operator_margin"], leg["reseller_cost"]) == (10, 7, None)
