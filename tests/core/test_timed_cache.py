"""Operator data each process remembers for a few seconds: a change made in the process is
seen at once, one made by another worker or instance once the copy is older than its lifetime."""

from __future__ import annotations

import asyncio

import pytest

from app.fraud import policy
from app.data import rates, service_numbers
from app.data.tables import destination_rules
from app.data.tables import rates as rates_t
from app.core.timed_cache import TimedCache
from tests.utils.harness import PlatformUnderTest

UK = "+442071234567"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_loaded_once_within_its_lifetime_then_again():
    clock, loads = Clock(), []
    cache = TimedCache(ttl=5.0, clock=clock)

    async def load():
        loads.append(clock.now)
        return len(loads)

    async def get():
        return await cache.get("key", load)

    assert [asyncio.run(get()) for _ in range(3)] == [1, 1, 1]
    clock.now += 4.9
    assert asyncio.run(get()) == 1
    clock.now += 0.2
    assert asyncio.run(get()) == 2
    cache.clear()
    assert asyncio.run(get()) == 3 and len(loads) == 3


def test_keys_that_miss_cannot_grow_it_without_bound():
    cache = TimedCache(max_entries=100)

    async def fill():
        for n in range(1000):
            assert await cache.get(n, lambda: asyncio.sleep(0, result=None)) is None

    asyncio.run(fill())
    assert len(cache._entries) <= 100


@pytest.fixture
def p(settings, engine, monkeypatch):
    clock = Clock()
    for cache in (policy._loaded, rates._found, rates._longest, service_numbers._by_number):
        monkeypatch.setattr(cache, "clock", clock)
    with PlatformUnderTest(settings, engine) as platform:
        platform.clock = clock
        yield platform


def test_a_rule_added_in_this_process_applies_at_once_and_one_added_elsewhere_within_seconds(p, engine):
    db = p.platform.db
    assert p.run(policy.check, db, account_id=None, number=UK) is None
    p.run(policy.add_rule, db, kind="deny_prefix", value="4420")
    assert p.run(policy.check, db, account_id=None, number=UK) == "prefix denied"

    # Another worker lifts it: this one refuses until its copy is five seconds old.
    with engine.begin() as c:
        c.execute(destination_rules.delete())
    assert p.run(policy.check, db, account_id=None, number=UK) == "prefix denied"
    p.clock.now += 5.0
    assert p.run(policy.check, db, account_id=None, number=UK) is None


def test_rates_are_remembered_by_the_digits_the_longest_prefix_needs(p, engine):
    db = p.platform.db
    p.run(rates.set_rate, db, prefix="44", price_per_minute=50_000)
    assert p.run(rates.find_rate, db, number=UK).price_per_minute == 50_000
    # A longer prefix set in this process is used at once, for numbers already looked up too.
    p.run(rates.set_rate, db, prefix="4420", price_per_minute=70_000)
    assert p.run(rates.find_rate, db, number=UK).price_per_minute == 70_000
    assert p.run(rates.find_rate, db, number="+442079999999").price_per_minute == 70_000
    assert p.run(rates.find_rate, db, number="+441612345678").price_per_minute == 50_000

    # Another worker adds a still longer one: seen here once the copies are five seconds old.
    with engine.begin() as c:
        c.execute(rates_t.update().where(rates_t.c.prefix == "4420").values(price_per_minute=90_000))
    assert p.run(rates.find_rate, db, number=UK).price_per_minute == 70_000
    p.clock.now += 5.0
    assert p.run(rates.find_rate, db, number=UK).price_per_minute == 90_000
