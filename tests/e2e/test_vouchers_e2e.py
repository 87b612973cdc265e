"""Vouchers and PIN cards end to end: the platform on a real server, the sandbox carrier calling and texting it.

Each redemption channel once, over its real protocol: DTMF on the callback leg
(a PIN card in PIN mode, topped up mid-session), a text to the service number,
the REST API, and the portal's form.
"""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from app.core import states, voucher_codes
from app.data import accounts, cards, vouchers
from app.data.tables import accounts as accounts_t
from app.data.tables import balance_adjustments
from app.data.tables import vouchers as vouchers_t
from tests.utils import scenario as sc
from tests.utils.live import live_platform
from tests.utils.web import logged_in, web_platform

NY = "+12125550123"


@pytest.fixture
async def live(settings, engine):
    async with live_platform(settings, engine) as live:
        yield live


async def batch(live_or_db, secret_key: str, *, count: int = 2, value: int = 1000, currency: str = "USD"):
    _, codes = await vouchers.create_batch(live_or_db, secret_key=secret_key, count=count, value=value,
                                           currency=currency)
    return codes


def history(engine, login: str):
    with engine.connect() as c:
        account_id = c.execute(sa.select(accounts_t.c.id).where(accounts_t.c.login == login)).scalar_one()
        return c.execute(sa.select(balance_adjustments).where(balance_adjustments.c.account_id == account_id)
                         .order_by(balance_adjustments.c.id)).mappings().all()


def said(call) -> str:
    return " ".join(entry[1] for entry in call.heard("say")) + " " + \
        " ".join(" ".join(entry[1]) for entry in call.heard("gather"))


async def test_a_pin_card_calls_in_pin_mode_and_tops_up_by_dtmf_mid_session(live):
    p = live.app.state.platform
    _, made = await cards.create_batch(live.db, secret_key=p.secret_key, count=2, balance=300, currency="USD",
                                       valid_days=30)
    (login, pin), _ = made
    (code, _) = await batch(live.db, p.secret_key, value=500)
    caller = "+14155550155"
    # PIN, then * at the destination prompt, the voucher typed in groups as keys, then the destination.
    live.carrier.phones.set(caller, keys=[pin + "#", "*#", code + "#", "2125550123#", None])
    live.carrier.phones.set(NY, answer_after=1, talk_seconds=60)
    trigger = await live.ring(caller, sc.PIN_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.COMPLETED, None)
    leg_a = live.calls_to(caller)[-1]
    heard = said(leg_a)
    assert "enter your voucher code" in heard and "Your voucher was accepted. Your balance is" in heard
    assert ("dial", NY) in leg_a.heard("dial")
    legs = live.legs(row["id"])
    cost = sum(leg["cost"] for leg in legs)
    assert cost > 0 and live.balance(login) == 300 + 500 - cost
    (credit,) = history(live.engine, login)
    assert (credit["actor"], credit["amount"], credit["balance_after"]) == ("voucher", 500, 800)
    card = await accounts.get_account_by_login(live.db, login=login)
    assert card["card_expires_at"] is not None  # validity runs from the first call
    # The card has no login: its password check never passes, so the portal stays shut.
    async with httpx.AsyncClient(base_url=live.platform_url) as client:
        page = await client.get("/login")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        refused = await client.post("/login", data={"csrf": csrf, "login": login, "password": ""})
        assert "Log out" not in refused.text


async def test_an_expired_pin_card_gets_no_callback(live):
    p = live.app.state.platform
    _, ((login, pin),) = await cards.create_batch(live.db, secret_key=p.secret_key, count=1, balance=300,
                                                  currency="USD", valid_days=1)
    # Its first use was a day ago: it expired at the moment it was made plus its day.
    card = await accounts.get_account_by_login(live.db, login=login)
    await live.db.execute(accounts_t.update().where(accounts_t.c.login == login)
                          .values(card_expires_at=card["created_at"]))
    caller = "+14155550156"
    live.carrier.phones.set(caller, keys=[pin + "#", pin + "#", pin + "#"])
    trigger = await live.ring(caller, sc.PIN_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, states.AUTH_FAILED)
    assert live.balance(login) == 300
    message = await live.carrier.text(caller, sc.PIN_NUMBER, f"PIN {pin} BAL")
    assert [r.body for r in message.replies] == ["Not authorized. Send HELP for help."]


async def test_topup_by_text_for_the_sender_and_after_a_pin(live):
    p = live.app.state.platform
    first, second = await batch(live.db, p.secret_key, value=250)
    message = await live.carrier.text(sc.ALICE_MOBILE, sc.PIN_NUMBER, f"TOPUP {voucher_codes.grouped(first)}")
    assert [r.body for r in message.replies] == ["Voucher accepted: 2.50 USD added. Your balance is 12.50 USD."]
    again = await live.carrier.text(sc.ALICE_MOBILE, sc.PIN_NUMBER, f"topup {first}")
    assert [r.body for r in again.replies] == ["That voucher code is not valid."]
    dashed = "-".join([second[:4], second[4:8], second[8:]])
    by_pin = await live.carrier.text(sc.STRANGER, sc.PIN_NUMBER, f"PIN {sc.BOB_PIN} TOPUP {dashed}")
    assert [r.body for r in by_pin.replies] == ["Voucher accepted: 2.50 USD added. Your balance is 7.50 USD."]
    assert live.balance("alice") == 1250 and live.balance("bob") == 750
    # The code is kept out of the SMS log, like PINs.
    with live.engine.connect() as c:
        bodies = [row[0] for row in c.execute(sa.text("SELECT body FROM sms_messages WHERE direction = 'in'"))]
    assert all(first not in body and second[:4] not in body for body in bodies), bodies


async def test_topup_by_the_api(live):
    p = live.app.state.platform
    alice = await accounts.get_account_by_login(live.db, login="alice")
    token = await accounts.create_token(live.db, account_id=alice["id"])
    (code, used) = await batch(live.db, p.secret_key, value=1500)
    (euro,) = await batch(live.db, p.secret_key, count=1, value=1500, currency="EUR")
    async with httpx.AsyncClient(base_url=live.platform_url, headers={"Authorization": f"Bearer {token}"}) as client:
        ok = await client.post("/api/v1/account/vouchers", json={"code": voucher_codes.grouped(code)})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"amount": "15.00", "amount_minor": 1500, "balance": "25.00", "balance_minor": 2500,
                             "currency": "USD"}
        assert (await client.get("/api/v1/account")).json()["balance"] == "25.00"
        # Used, of another currency, mistyped, unknown: one answer.
        answers = [await client.post("/api/v1/account/vouchers", json={"code": typed})
                   for typed in (code, euro, used[:-1] + str((int(used[-1]) + 1) % 10), "00000000000000")]
        assert {(r.status_code, r.json()["error"]["code"]) for r in answers} == {(422, "voucher_invalid")}
        assert {r.json()["error"]["message"] for r in answers} == {"that voucher code is not valid"}
        for body in ({"code": 12345678901234}, {"code": "1" * 41}, {"coupon": used}, {}):
            assert (await client.post("/api/v1/account/vouchers", json=body)).status_code == 422
    assert live.balance("alice") == 2500


def test_topup_in_the_portal(settings, engine):
    with web_platform(settings, engine, operator=False) as p:
        code, = p.run(batch, p.platform.db, settings.secret_key, count=1, value=300)
        alice = logged_in(p)
        page = alice.get("/balance")
        assert page.status_code == 200 and "Add a voucher" in page.text
        done = alice.submit("/balance/voucher", {"code": voucher_codes.grouped(code)})
        assert done.status_code == 200 and "Voucher accepted: 3.00 USD added. Your balance is 13.00 USD." in done.text
        assert "Voucher" in done.text.split("Balance history", 1)[1]
        again = alice.submit("/balance/voucher", {"code": code})
        assert again.status_code == 422 and "That voucher code is not valid." in again.text
        with engine.connect() as c:
            row = c.execute(sa.select(vouchers_t)).mappings().one()
        assert row["channel"] == "web" and row["redeemed_at"] is not None


async def test_a_low_balance_notice_is_texted_once_per_crossing(live):
    """Concurrent charges cross the threshold; concurrent passes (and the dispatcher's own) text once.
    A top-up that stays below it does not re-arm it; one above it does."""
    import asyncio

    from app.calls import low_balance as notices
    from app.data import holds, low_balance

    p = live.app.state.platform
    alice = await accounts.get_account_by_login(live.db, login="alice")
    await accounts.update_account(live.db, account_id=alice["id"], language="es")
    await low_balance.set_threshold(live.db, account_id=alice["id"], threshold=500)
    phone = live.carrier.phones[sc.ALICE_HOME]

    async def notices_received(expected: int) -> list[str]:
        for _ in range(100):
            await asyncio.gather(*(notices.send_notices(p) for _ in range(3)))
            if len(phone.inbox) >= expected:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
        return [m.body for m in phone.inbox]

    assert await notices_received(0) == []  # 10.00 is not below 5.00
    await asyncio.gather(*(holds.charge(live.db, account_id=alice["id"], cost=200, freed=0) for _ in range(5)))
    assert await notices_received(1) == [
        "Su saldo es de 0.00 USD, por debajo de 5.00 USD. Recargue su cuenta para seguir llamando."]
    await accounts.top_up(live.db, account_id=alice["id"], amount=300)  # 3.00: still below
    await holds.charge(live.db, account_id=alice["id"], cost=100, freed=0)
    assert len(await notices_received(1)) == 1
    await accounts.top_up(live.db, account_id=alice["id"], amount=1000)  # 12.00: above, re-armed
    await holds.charge(live.db, account_id=alice["id"], cost=900, freed=0)
    bodies = await notices_received(2)
    assert len(bodies) == 2 and bodies[1].startswith("Su saldo es de 3.00 USD")


async def test_a_low_balance_notice_goes_through_the_gateway_its_subscriber_texts_through(live):
    """An operator without a provider number for texts: the notice waits for the gateway app's next poll."""
    from app.calls import low_balance as notices
    from app.data import holds, low_balance, sms_log

    p = live.app.state.platform
    secret = await sms_log.add_gateway(live.db, name="android")
    alice = await accounts.get_account_by_login(live.db, login="alice")
    await low_balance.set_threshold(live.db, account_id=alice["id"], threshold=500)
    async with httpx.AsyncClient(base_url=live.platform_url) as client:
        texted = await client.post("/sms/gateway", json={"from": sc.ALICE_HOME, "text": "BAL", "secret": secret})
        assert texted.status_code == 200
        await holds.charge(live.db, account_id=alice["id"], cost=900, freed=0)
        assert await notices.send_notices(p) == 1
        assert await notices.send_notices(p) == 0  # once per crossing
        polled = (await client.get("/sms/gateway", params={"task": "send", "secret": secret})).json()
    messages = polled["payload"]["messages"]
    assert [m["to"] for m in messages] == [sc.ALICE_HOME]
    assert messages[0]["message"].startswith("Your balance is 1.00 USD")
    assert live.carrier.phones[sc.ALICE_HOME].inbox == []  # not by the provider
