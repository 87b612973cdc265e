"""Voucher redemption under attack and under races: over the REST API, requests fired all at once.

Also the codes themselves (check digit, what is ignored when typed) and the one
answer that every unusable code gets.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
import sqlalchemy as sa

from app.core import voucher_codes
from app.data import accounts, vouchers
from app.data.db import utcnow
from app.data.tables import auth_failures, balance_adjustments, voucher_batches
from app.data.tables import accounts as accounts_t
from app.data.tables import vouchers as vouchers_t
from app.fraud import lockouts
from tests.utils.harness import BASE, PlatformUnderTest
from tests.utils.live import seed


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        platform.run(seed, platform.platform.db, settings.secret_key)
        yield platform


def token_of(p: PlatformUnderTest, login: str) -> str:
    async def make():
        account = await accounts.get_account_by_login(p.platform.db, login=login)
        return await accounts.create_token(p.platform.db, account_id=account["id"])
    return p.run(make)


def make_codes(p: PlatformUnderTest, count: int = 1, value: int = 1000, **extra) -> list[str]:
    _, codes = p.run(vouchers.create_batch, p.platform.db, secret_key=p.settings.secret_key, count=count,
                     value=value, currency="USD", **extra)
    return codes


def balance(p: PlatformUnderTest, login: str) -> int:
    return p.scalar(sa.select(accounts_t.c.balance).where(accounts_t.c.login == login))


def redeem_all_at_once(p: PlatformUnderTest, attempts: list[tuple[str, str]]) -> list[httpx.Response]:
    """POST /api/v1/account/vouchers for each (token, code), concurrently, in the app's event loop."""
    async def fire():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app), base_url=BASE) as client:
            return await asyncio.gather(*(
                client.post("/api/v1/account/vouchers", json={"code": code},
                            headers={"Authorization": f"Bearer {token}"}) for token, code in attempts))
    return p.run(fire)


def test_codes_carry_a_luhn_digit_and_typing_noise_is_ignored():
    code = voucher_codes.new_code("42")
    assert len(code) == 14 and code.startswith("42") and code.isdigit()
    assert voucher_codes.read(f" {code[:4]}-{code[4:8]} {code[8:]} ") == code
    assert voucher_codes.luhn_digit("7992739871") == "3"  # the textbook example
    wrong_digit = code[:-1] + str((int(code[-1]) + 1) % 10)
    swapped = code[1] + code[0] + code[2:]
    assert voucher_codes.read(wrong_digit) is None
    assert code[0] == code[1] or voucher_codes.read(swapped) is None
    for typed in (None, 12345678901234, "", code[:-1], code + "0", "１" * 14, code.replace(code[3], "x"),
                  " " * 30 + code):
        assert voucher_codes.read(typed) is None, typed
    assert voucher_codes.digest("k1", code) != voucher_codes.digest("k2", code) != code


def test_two_redemptions_of_one_code_at_once_credit_once(p):
    alice, bob = token_of(p, "alice"), token_of(p, "bob")
    (code,) = make_codes(p, value=700)
    before = balance(p, "alice") + balance(p, "bob")
    responses = redeem_all_at_once(p, [(alice, code), (bob, code), (alice, code), (bob, code)])
    assert sorted(r.status_code for r in responses) == [200, 422, 422, 422]
    assert balance(p, "alice") + balance(p, "bob") == before + 700
    with p.engine.connect() as c:
        credits = c.execute(sa.select(balance_adjustments).where(balance_adjustments.c.actor == "voucher")).all()
        (row,) = c.execute(sa.select(vouchers_t)).mappings().all()
    assert len(credits) == 1 and row["redeemed_at"] is not None and row["channel"] == "api"


def test_ten_wrong_codes_lock_redemption_for_the_account_not_for_others(p):
    alice, bob = token_of(p, "alice"), token_of(p, "bob")
    good, other = make_codes(p, count=2, value=100)
    wrong = [voucher_codes.new_code() for _ in range(15)]
    # Fifteen wrong codes at once: ten are checked (and answered 422), the rest refused unchecked.
    responses = redeem_all_at_once(p, [(alice, code) for code in wrong])
    assert sorted(r.status_code for r in responses) == [422] * 10 + [429] * 5
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {"voucher_locked"}
    locked = redeem_all_at_once(p, [(alice, good)])[0]
    assert locked.status_code == 429 and locked.headers["retry-after"] == "3600"
    assert balance(p, "alice") == 1000  # the good code was not even looked at: still unredeemed
    assert redeem_all_at_once(p, [(bob, good)])[0].status_code == 200
    # The operator's unlock (CLI or admin) clears it.
    assert p.cli("account", "unlock", "alice") == 0
    assert redeem_all_at_once(p, [(alice, other)])[0].status_code == 200


def test_wrong_codes_lock_the_requester_across_accounts(p):
    async def attempts():
        db = p.platform.db
        alice = await accounts.get_account_by_login(db, login="alice")
        bob = await accounts.get_account_by_login(db, login="bob")
        for index in range(10):
            account = alice if index % 2 else bob
            assert await lockouts.begin_voucher(db, account_id=account["id"], requester="+14155550199")
        # Five failures each: neither account is locked, the sender that made all ten is.
        assert not await lockouts.voucher_locked(db, account_id=alice["id"], requester="+14155550100")
        assert await lockouts.begin_voucher(db, account_id=alice["id"], requester="+14155550199") is None
        # Wrong codes never count towards the PIN lockout of the same caller ID.
        assert not await lockouts.requester_locked(db, requester="+14155550199")
    p.run(attempts)


def test_used_expired_disabled_and_wrong_currency_codes_get_one_answer(p):
    alice = token_of(p, "alice")
    (expired,) = make_codes(p, expires_at=utcnow().replace(microsecond=0) - dt.timedelta(seconds=1))
    disabled_batch, (disabled,) = p.run(vouchers.create_batch, p.platform.db, secret_key=p.settings.secret_key,
                                        count=1, value=1000, currency="USD")
    assert p.run(vouchers.disable_batch, p.platform.db, batch_id=disabled_batch)
    _, (euro,) = p.run(vouchers.create_batch, p.platform.db, secret_key=p.settings.secret_key, count=1,
                       value=1000, currency="EUR")
    (used,) = make_codes(p)
    assert redeem_all_at_once(p, [(alice, used)])[0].status_code == 200
    answers = [redeem_all_at_once(p, [(alice, code)])[0] for code in (used, expired, disabled, euro)]
    assert {(r.status_code, r.text) for r in answers} == {
        (422, '{"error":{"code":"voucher_invalid","message":"that voucher code is not valid"}}')}
    assert balance(p, "alice") == 2000


def test_a_batch_expires_at_the_end_of_its_last_day(p):
    """--expires DATE: valid through 23:59:59 UTC of that day; a past date is refused."""
    from app.cli.commands.vouchers import expiry
    from app.cli.commands import CommandError
    today = dt.date(2027, 6, 30)
    assert expiry("2027-06-30", today) == dt.datetime(2027, 7, 1)
    with pytest.raises(CommandError, match="in the past"):
        expiry("2027-06-29", today)
    with pytest.raises(CommandError, match="a date"):
        expiry("30/06/2027", today)
    (code,) = make_codes(p, expires_at=utcnow() + dt.timedelta(seconds=30))
    assert redeem_all_at_once(p, [(token_of(p, "alice"), code)])[0].status_code == 200


def test_codes_are_stored_only_as_keyed_digests(p):
    codes = make_codes(p, count=20)
    with p.engine.connect() as c:
        rows = c.execute(sa.select(vouchers_t, voucher_batches).join_from(vouchers_t, voucher_batches))
        stored = " ".join(str(value) for row in rows for value in row)
    assert not any(code in stored or code[:10] in stored for code in codes)
    assert len(set(codes)) == 20


@pytest.fixture
def provider():
    from tests.utils.provider import TwilioRecorder
    recorder = TwilioRecorder()
    with recorder.cassette("calls_create.yaml"):
        yield recorder


def test_the_ivr_voucher_keys_wrong_and_right_codes_and_the_next_call_menu(settings, engine, provider, caplog):
    """Signed webhooks in, TwiML parsed out: * at the destination prompt, a wrong code, a right one, then 2."""
    from tests.utils import scenario as sc
    from tests.utils.twilio import spoken

    with PlatformUnderTest(settings, engine) as p:
        sc.seed(p)
        s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
        s.trigger()
        assert p.dispatch() == 1
        s.status_a("initiated")
        s.step("answer")
        verbs = s.step("pin", Digits=sc.ALICE_PIN)
        assert "To add a voucher, press star, then pound." in spoken(verbs)
        verbs = s.step("destination", Digits="*")
        assert verbs[0].name == "Gather" and verbs[0].attrs["action"].endswith(f"/legs/{s.request_id}/voucher")
        assert "enter your voucher code" in spoken(verbs)
        verbs = s.step("voucher", Digits="12345678901234")
        assert "That voucher code is not valid." in spoken(verbs)
        assert verbs[-1].name == "Gather" and verbs[-1].attrs["action"].endswith("/destination")
        (code,) = make_codes(p, value=250)
        with caplog.at_level("INFO", logger="app.calls.operator_events"):
            verbs = s.step("voucher", Digits=code)
        assert "Your voucher was accepted. Your balance is 12.50 USD." in spoken(verbs)
        assert balance(p, "alice") == 1250
        events = [record.operator_event for record in caplog.records if hasattr(record, "operator_event")]
        assert [(e["type"], e["amount"], e["balance"], e["account"]["login"]) for e in events] == [
            ("voucher.redeemed", "2.50", "12.50", "alice"), ("balance.changed", "2.50", "12.50", "alice")]
        # After a call, 2 in the next-call menu asks for a code too.
        with p.engine.begin() as c:
            c.execute(sa.text("UPDATE callback_requests SET state = 'calling_b' WHERE id = :id"), {"id": s.request_id})
        verbs = s.step("dialed", DialCallStatus="busy")
        assert "To add a voucher, press 2." in spoken(verbs)
        verbs = s.step("next", Digits="2")
        assert verbs[0].attrs["action"].endswith("/voucher")
        verbs = s.step("voucher", Digits="")
        assert verbs[-1].attrs["action"].endswith("/destination")
