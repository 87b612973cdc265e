"""Speed dials, redial and DID-direct numbers end to end on the sandbox carrier."""

from __future__ import annotations

import pytest

from app.calls import did_direct, phonebook
from app.core import states
from app.data import accounts, service_numbers
from tests.utils import scenario as sc
from tests.utils.live import live_platform

NY = "+12125550123"
UK = "+442071234567"
PREMIUM = "+19005550123"  # a premium-rate range, refused by default
DIRECT_DID = "+18005550009"


@pytest.fixture
async def live(settings, engine):
    async with live_platform(settings, engine) as live:
        yield live


def said(call) -> str:
    """Everything leg A heard said, inside gathers too."""
    return " ".join(entry[1] for entry in call.heard("say")) + " " + " ".join(
        " ".join(g[1]) for g in call.heard("gather"))


async def alice(live):
    return await accounts.get_account_by_login(live.db, login="alice")


async def test_a_speed_dial_then_the_redial_at_the_destination_prompt(live):
    account = await alice(live)
    await phonebook.add(live.db, account, phonebook.entry(account, name="Mum", number="+44 20 7123 4567", code="7"))
    # *7# dials Mum, then (1: another call) **# dials her again; *9# is no entry, and is said so.
    live.carrier.phones.set(sc.ALICE_HOME, keys=["*9#", "*7#", "1", "**#", None], star_after=5)
    live.carrier.phones.set(UK, talk_seconds=None)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED and row["calls_connected"] == 2
    leg_a = live.calls_to(sc.ALICE_HOME)[-1]
    assert [e[1] for e in leg_a.heard("dial")] == [UK, UK]
    assert "There is no speed dial with that code." in said(leg_a)
    # Both calls were billed as typed ones are: leg B legs priced at the UK rate.
    b_legs = [leg for leg in live.legs(row["id"]) if leg["leg"] == "b"]
    assert len(b_legs) == 2 and all(leg["rate_prefix"] == "44" for leg in b_legs)


async def test_redial_with_no_last_number_and_a_blocked_speed_dial(live):
    account = await alice(live)
    # An entry may hold a number the policy refuses: it is refused when dialled, as a typed one is.
    await phonebook.add(live.db, account, phonebook.entry(account, name="Hotline", number=PREMIUM, code="12"))
    live.carrier.phones.set(sc.ALICE_HOME, keys=["**#", "*12#", "*99999#"])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, states.DESTINATION_BLOCKED)
    leg_a = live.calls_to(sc.ALICE_HOME)[-1]
    text = said(leg_a)
    assert "There is no number to redial yet." in text and "Calls to that number are not available." in text
    assert leg_a.heard("dial") == []


async def test_a_did_direct_number_connects_its_destination_with_no_ivr(live):
    account = await alice(live)
    destination = await did_direct.checked_destination(live.db, account=account, raw="2125550123")
    await service_numbers.add_number(live.db, number=DIRECT_DID, mode="did-direct", account_id=account["id"],
                                     destination=destination)
    # press1 (the account's setting): leg A hears the number and presses 1; never asked for one.
    live.carrier.phones.set(sc.ALICE_HOME, keys=["1", None])
    trigger = await live.ring("anonymous", DIRECT_DID)
    assert trigger.rejected == "busy"  # the trigger is never answered, so never billed
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED and row["leg_b_number"] == NY
    leg_a = live.calls_to(sc.ALICE_HOME)[-1]
    assert ("dial", NY) in leg_a.heard("dial")
    assert "Press 1 to be connected" in said(leg_a) and "Please enter the number" not in said(leg_a)

    # confirm_mode none: connected as soon as leg A answers.
    await accounts.update_account(live.db, account_id=account["id"], confirm_mode="none")
    live.carrier.phones.set(sc.ALICE_HOME, keys=[])
    trigger = await live.ring(sc.STRANGER, DIRECT_DID)
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED
    leg_a = live.calls_to(sc.ALICE_HOME)[-1]
    assert "Press 1 to be connected" not in said(leg_a) and ("dial", NY) in leg_a.heard("dial")


async def test_a_did_direct_destination_blocked_since_it_was_set_gets_no_callback(live):
    account = await alice(live)
    await service_numbers.add_number(live.db, number=DIRECT_DID, mode="did-direct", account_id=account["id"],
                                     destination=NY)
    await accounts.update_account(live.db, account_id=account["id"], tariff="none")  # no rate for NY any more
    trigger = await live.ring(sc.ALICE_MOBILE, DIRECT_DID)
    assert trigger.rejected == "busy"
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, states.DESTINATION_BLOCKED)
    assert live.calls_to(sc.ALICE_HOME) == []
