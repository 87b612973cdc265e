"""Resellers end to end on the sandbox: fifty calls at once against a reseller's credit limit, and the
margins each CDR carries."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from app.core import states
from app.data import rates
from app.data import resellers as resellers_q
from app.data.tables import accounts, call_legs, callback_requests, resellers
from tests.utils import scenario as sc
from tests.utils.live import live_platform

NY = "+12125550123"


async def test_fifty_concurrent_calls_never_pass_the_resellers_credit_limit(settings, engine):
    """Alice has 100.00, but her reseller only 2.00 of credit: the reseller's limit is what stops the calls.

    Her calls are sold at 0.01 a minute and bought by the reseller at 0.005 (tariff `wholesale`); holds are
    taken of the reseller's credit at the selling price, so fifty calls at once can hold no more than 2.00."""
    if settings.is_sqlite:
        pytest.skip("the concurrency proof is for PostgreSQL: SQLite runs one writer at a time")
    async with live_platform(settings, engine, speed=10, cps=100) as live:
        acme_id = await resellers_q.create_reseller(live.db, login="acme", password="acme-password",
                                                    tariff="wholesale", currency="USD", credit_limit=200)
        alice_id = await live.db.fetch_val(sa.select(accounts.c.id).where(accounts.c.login == "alice"))
        await resellers_q.attach(live.db, reseller_id=acme_id, account_id=alice_id)
        await rates.set_rate(live.db, prefix="1", price_per_minute=5_000, tariff="wholesale")
        await live.db.execute(accounts.update().where(accounts.c.login == "alice")
                              .values(balance=10_000, max_concurrent=100, retry_attempts=0, max_call_seconds=120))
        live.carrier.phones.set(NY, talk_seconds=None)
        callers = [f"+1415555{n:04d}" for n in range(50)]
        for number in callers:
            await live.db.execute(sa.text("INSERT INTO anis (account_id, number, verified, created_at) "
                                          "VALUES (:a, :n, true, CURRENT_TIMESTAMP)").bindparams(a=alice_id, n=number))
            live.carrier.phones.set(number, keys=["2125550123#", None])
        await live.db.execute(accounts.update().where(accounts.c.login == "alice").values(default_number=None))
        triggers = await asyncio.gather(*(live.carrier.ring(from_=number, to=sc.ANI_NUMBER) for number in callers))
        for trigger in triggers:
            await live.finished(trigger.sid, timeout=90)
        with engine.connect() as c:
            acme = c.execute(sa.select(resellers).where(resellers.c.login == "acme")).mappings().one()
            alice = c.execute(sa.select(accounts).where(accounts.c.login == "alice")).mappings().one()
            legs = c.execute(sa.select(call_legs).where(call_legs.c.ended_at.is_not(None))).mappings().all()
            outcomes = dict(c.execute(sa.select(callback_requests.c.reason, sa.func.count())
                                      .group_by(callback_requests.c.reason)).all())
            states_seen = dict(c.execute(sa.select(callback_requests.c.state, sa.func.count())
                                         .group_by(callback_requests.c.state)).all())
    assert sum(states_seen.values()) == 50 and states_seen.get(states.COMPLETED, 0) >= 1
    # The limit held, every hold came back, and what the reseller owes is the sum of its CDRs.
    assert acme["used"] <= acme["credit_limit"] == 200 and acme["reserved"] == 0 and alice["reserved"] == 0
    assert acme["used"] == sum(leg["reseller_cost"] or 0 for leg in legs)
    assert 10_000 - alice["balance"] == sum(leg["cost"] or 0 for leg in legs)
    # The reseller's credit ran out long before alice's 100.00: it is what refused calls.
    assert outcomes.get(states.INSUFFICIENT_FUNDS, 0) >= 1 and alice["balance"] > 9_000
    # Each billed leg carries the reseller's margin: sold at 0.01/min, bought at 0.005/min.
    billed = [leg for leg in legs if leg["cost"]]
    assert billed and all(leg["reseller_margin"] == leg["cost"] - leg["reseller_cost"] for leg in billed)
    assert all(leg["reseller_cost"] <= leg["cost"] for leg in billed) and any(leg["reseller_margin"] > 0
                                                                                for leg in billed)
