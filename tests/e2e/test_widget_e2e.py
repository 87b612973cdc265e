"""The website widget end to end on the sandbox: a visitor's number in, a code texted to their phone, the call
placed, confirmed with 1, the destination connected, and both legs billed to the widget's account."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from app.core import states
from app.data import accounts, widgets
from tests.utils import scenario as sc
from tests.utils.live import live_platform

SITE = "https://shop.example.com"
DESTINATION = "+12125550123"
VISITOR = "+14155550177"


@pytest.fixture
async def live(settings, engine):
    async with live_platform(settings, engine) as live:
        yield live


async def test_a_visitor_is_called_and_put_through_to_the_destination_billed_to_the_widgets_account(live):
    alice = await accounts.get_account_by_login(live.db, login="alice")
    await widgets.add_widget(live.db, public_key="shop-widget-key", name="Shop", account_id=alice["id"],
                             destination=DESTINATION, allowed_origins=SITE, verification="code")
    live.carrier.phones.set(VISITOR, keys=["1", None])
    before = live.balance("alice")
    api = f"{live.platform_url}/widget/shop-widget-key"
    async with httpx.AsyncClient(headers={"Origin": SITE}) as browser:
        started = await browser.post(api + "/visits", json={"number": "415-555-0177"})
        assert started.status_code == 201 and started.json()["status"] == "code_sent", started.text
        token = started.json()["token"]
        phone = live.carrier.phones[VISITOR]
        for _ in range(200):  # the text crosses the carrier in virtual time
            if phone.inbox:
                break
            await asyncio.sleep(0.02)
        code = re.search(r"\b(\d{6})\b", phone.inbox[-1].body).group(1)
        confirmed = await browser.post(f"{api}/visits/{token}/code", json={"code": code})
        assert confirmed.json() == {"status": "queued"}
        row = await live.finished("widget:1", timeout=30)
        status = await browser.get(f"{api}/visits/{token}")
    assert status.json() == {"status": "completed"}
    assert row["state"] == states.COMPLETED and row["account_id"] == alice["id"]
    (leg_a,) = live.calls_to(VISITOR)
    assert "Press 1 to be connected" in " ".join(" ".join(g[1]) for g in leg_a.heard("gather"))
    assert ("dial", DESTINATION) in leg_a.heard("dial")
    # The visitor is not the account's owner: no balance said, no other call offered, hung up at the end.
    heard = " ".join(entry[1] for entry in leg_a.heard("say"))
    assert "Connecting your call." in heard and "balance" not in heard.lower()
    assert "another call" not in heard + " ".join(" ".join(g[1]) for g in leg_a.heard("gather"))
    legs = live.legs(row["id"])
    assert sorted(leg["leg"] for leg in legs) == ["a", "b"]
    assert {leg["to_number"] for leg in legs} == {VISITOR, DESTINATION}
    cost = sum(leg["cost"] for leg in legs)
    assert cost > 0 and before - live.balance("alice") == cost
    assert live.balance("bob") == 500  # nobody else pays


async def test_a_busy_destination_ends_the_visitors_session_with_no_other_call_offered(live):
    """Proof-of-work this time; the destination is busy and the visitor keeps pressing 1: nothing else is dialled."""
    from app.fraud import widget_guard

    alice = await accounts.get_account_by_login(live.db, login="alice")
    await widgets.add_widget(live.db, public_key="pow-widget-key", name="Shop", account_id=alice["id"],
                             destination=DESTINATION, allowed_origins=SITE, verification="pow", pow_bits=6)
    live.carrier.phones.set(VISITOR, keys=["1", "1", "1"])
    live.carrier.phones.set(DESTINATION, answer="busy")
    api = f"{live.platform_url}/widget/pow-widget-key"
    async with httpx.AsyncClient(headers={"Origin": SITE}) as browser:
        pow_ = (await browser.get(api + "/challenge")).json()["pow"]
        started = await browser.post(api + "/visits", json={
            "number": VISITOR, "challenge": pow_["challenge"], "solution": widget_guard.solve(pow_["challenge"],
                                                                                              pow_["bits"])})
        assert started.json()["status"] == "queued", started.text
        row = await live.finished("widget:1", timeout=30)
        status = await browser.get(f"{api}/visits/{started.json()['token']}")
    assert status.json() == {"status": "failed"}
    assert (row["state"], row["reason"]) == (states.FAILED, states.B_BUSY)
    (leg_a,) = live.calls_to(VISITOR)
    assert leg_a.heard("dial") == [("dial", DESTINATION)]
    heard = " ".join(entry[1] for entry in leg_a.heard("say"))
    assert "The number you called is busy." in heard and "another call" not in heard
