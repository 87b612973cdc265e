"""SMS triggers through the provider's webhook and the gateway endpoint: one reply each."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from app.data import accounts
from app.fraud import lockouts
from app.core import security, states
from app.data.tables import anis, auth_failures, sms_messages
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import BASE, PlatformUnderTest
from tests.utils.provider import TwilioRecorder

SERVICE = sc.PIN_NUMBER
NOT_AUTHORIZED = "Not authorized. Send HELP for help."


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        yield platform


def text(p: PlatformUnderTest, sender: str, body: str, *, sid: str | None = None, to: str = SERVICE) -> list[str]:
    response = p.post("/twilio/sms", tw.sms_params(From=sender, To=to, Body=body, MessageSid=sid))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return tw.parse_messages(response.text)


def only_request(p: PlatformUnderTest):
    (row,) = p.requests()
    return row


def test_call_me_back_by_ani(p):
    assert text(p, sc.ALICE_MOBILE, "CALL") == [f"Callback queued: we will call you at {sc.ALICE_MOBILE} shortly."]
    row = only_request(p)
    assert (row["trigger_kind"], row["state"], row["leg_a_number"], row["leg_b_number"]) == (
        "sms", states.QUEUED, sc.ALICE_MOBILE, None)
    assert row["notify_number"] == sc.ALICE_MOBILE and row["leg_a_from"] == SERVICE and not row["needs_pin"]


@pytest.mark.parametrize("body", ["00442071234567", "call +44 2071234567".replace(" 2071", "2071"),
                                  "#011442071234567#", " Call, +442071234567 "])
def test_call_me_and_connect_a_destination(p, body):
    (reply,) = text(p, sc.ALICE_MOBILE, body)
    assert reply == f"Callback queued: we will call {sc.ALICE_MOBILE}, then connect {sc.UK_DESTINATION}."
    row = only_request(p)
    assert row["leg_b_number"] == sc.UK_DESTINATION and row["confirm_mode"] == "press1"


def test_connect_two_calls_the_first_number(p):
    text(p, sc.ALICE_MOBILE, "4155550123 00442071234567")
    row = only_request(p)
    assert (row["leg_a_number"], row["leg_b_number"], row["notify_number"]) == (
        "+14155550123", sc.UK_DESTINATION, sc.ALICE_MOBILE)


def test_pin_from_any_phone(p):
    (reply,) = text(p, sc.STRANGER, f"PIN {sc.ALICE_PIN} 00442071234567")
    assert "then connect +442071234567" in reply
    row = only_request(p)
    assert row["leg_a_number"] == sc.STRANGER and row["account_id"] is not None


def test_login_and_password(p):
    (reply,) = text(p, sc.STRANGER, "U.alice P.alice-password 2125550123")
    assert "then connect +12125550123" in reply


def test_register_an_ani_with_login_and_password(p, engine):
    # Sent from the phone being registered: the text itself proves it (another number
    # needs its code first: tests/fraud/test_verification_texts.py).
    (reply,) = text(p, "+14155550177", "u.alice p.alice-password r.4155550177")
    assert reply == "+14155550177 is now registered to your account."
    with engine.connect() as c:
        assert c.execute(sa.select(anis.c.verified).where(anis.c.number == "+14155550177")).scalar() is True
    (again,) = text(p, sc.STRANGER, "u.alice p.alice-password r.4155550177")
    assert again == "That number cannot be registered. Send HELP for help."


def test_balance_and_rate(p):
    assert text(p, sc.ALICE_MOBILE, "bal") == ["Your balance is 10.00 USD."]
    assert text(p, sc.ALICE_MOBILE, "RATE 00442071234567") == ["Calls to +442071234567 cost 0.05 USD a minute."]
    assert text(p, sc.ALICE_MOBILE, "rate 0033123456789") == ["Calls to +33123456789 are not available."]
    assert p.requests() == []


def test_help(p):
    (reply,) = text(p, sc.STRANGER, "HELP")
    assert "CALL" in reply and "BAL" in reply


@pytest.mark.parametrize("body", ["CALL", "BAL", "PIN 999999 BAL", "U.alice P.wrong BAL", "U.nobody P.x BAL",
                                  f"PIN {sc.ALICE_PIN}0 00442071234567"])
def test_strangers_learn_nothing(p, body):
    assert text(p, sc.STRANGER, body) == [NOT_AUTHORIZED]
    assert p.requests() == []


def test_wrong_passwords_and_pins_count_towards_the_lockout(p, engine, lockout_clock):
    for n in range(10):
        lockout_clock.wait_out_backoff()
        text(p, sc.STRANGER, f"PIN 99999{n} BAL")
    lockout_clock.wait_out_backoff()
    assert text(p, sc.STRANGER, f"PIN {sc.ALICE_PIN} BAL") == [NOT_AUTHORIZED]
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(auth_failures)).scalar() == 10


SECRETS = {  # a wrong and a right text, by PIN and by login and password
    "pin": ("PIN 999990 BAL", f"PIN {sc.ALICE_PIN} BAL"),
    "password": ("U.alice P.wrong BAL", "U.alice P.alice-password BAL"),
}
BALANCE = "Your balance is 10.00 USD."


def count_checks(monkeypatch, kind: str) -> list[str]:
    """Every PIN looked up, or password verified, from now on."""
    checked = []
    if kind == "pin":
        real_pin = accounts.find_account_by_pin

        async def by_pin(db, *, secret_key, pin):
            checked.append(pin)
            return await real_pin(db, secret_key=secret_key, pin=pin)

        monkeypatch.setattr(accounts, "find_account_by_pin", by_pin)
    else:
        real_password = security.verify_password

        def by_password(password_hash, password):
            checked.append(password)
            return real_password(password_hash, password)

        monkeypatch.setattr(security, "verify_password", by_password)
    return checked


@pytest.mark.parametrize("kind", SECRETS)
def test_rapid_wrong_secrets_from_one_sender_meet_a_backoff(p, engine, monkeypatch, lockout_clock, kind):
    wrong, right = SECRETS[kind]
    checked = count_checks(monkeypatch, kind)
    # The clock stands still: the texts come as fast as the sender can send them.
    for _ in range(lockouts.BACKOFF_AFTER):
        assert text(p, sc.STRANGER, wrong) == [NOT_AUTHORIZED]
    assert text(p, sc.STRANGER, wrong) == [NOT_AUTHORIZED]
    assert text(p, sc.STRANGER, right) == [NOT_AUTHORIZED]  # even the right secret is not checked during the wait
    assert len(checked) == lockouts.BACKOFF_AFTER
    with engine.connect() as c:  # refused unchecked, and not counted
        assert c.execute(sa.select(sa.func.count()).select_from(auth_failures)).scalar() == lockouts.BACKOFF_AFTER
    # Another sender is unaffected.
    assert text(p, sc.ALICE_HOME, right) == [BALANCE]
    # Once the wait has passed, the sender's next text is checked.
    lockout_clock.advance(lockouts.BACKOFF_FIRST)
    assert text(p, sc.STRANGER, right) == [BALANCE]
    assert len(checked) == lockouts.BACKOFF_AFTER + 2


@pytest.mark.parametrize("kind", SECRETS)
def test_fifty_concurrent_wrong_secrets_by_text_are_checked_at_most_the_limit(p, engine, monkeypatch, kind):
    wrong, _ = SECRETS[kind]
    checked = count_checks(monkeypatch, kind)

    async def attack():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app), base_url=BASE) as client:
            async def send():
                params = tw.sms_params(From=sc.STRANGER, To=SERVICE, Body=wrong)
                return await client.post("/twilio/sms", data=params,
                                         headers={"X-Twilio-Signature": tw.sign(BASE + "/twilio/sms", params)})

            return await asyncio.gather(*(send() for _ in range(50)))

    responses = p.run(attack)
    assert [r.status_code for r in responses] == [200] * 50
    assert all(tw.parse_messages(r.text) == [NOT_AUTHORIZED] for r in responses)
    # Each counts itself before it is checked and is refused if it sees enough before it: in a burst that can
    # be every one of them, never more than the limit.
    assert len(checked) <= lockouts.MAX_FAILURES, len(checked)
    with engine.connect() as c:  # only the checked ones are counted
        assert c.execute(sa.select(sa.func.count()).select_from(auth_failures)).scalar() == len(checked)


@pytest.mark.parametrize("body", ["x" * 5000, "😀📞☎️", "\u202e4155550123\u202c", "\x00\x1b[31m", "'; DROP TABLE accounts;--",
                                  "<script>alert(1)</script>", "CALL 12", "PIN 12 x"])
def test_hostile_texts_get_a_clear_reply(p, body):
    replies = text(p, sc.ALICE_MOBILE, body)
    assert len(replies) == 1 and "Traceback" not in replies[0]
    assert all(r["state"] == states.QUEUED for r in p.requests())


def test_duplicate_delivery_acts_once(p):
    sid = tw.message_sid()
    assert len(text(p, sc.ALICE_MOBILE, "CALL", sid=sid)) == 1
    assert text(p, sc.ALICE_MOBILE, "CALL", sid=sid) == []
    assert len(p.requests()) == 1


def test_stop_and_start(p, engine):
    assert text(p, sc.ALICE_MOBILE, "STOP") == []
    assert text(p, sc.ALICE_MOBILE, "BAL") == []  # opted out: acted on, never answered
    with engine.connect() as c:
        statuses = c.execute(sa.select(sms_messages.c.status).where(sms_messages.c.direction == "out")).scalars().all()
    assert statuses == ["suppressed"]
    assert text(p, sc.ALICE_MOBILE, "START") == ["You will receive messages from us again. Send HELP for help."]
    assert text(p, sc.ALICE_MOBILE, "BAL") == ["Your balance is 10.00 USD."]


def test_unsigned_sms_is_refused(p):
    response = p.client.post("/twilio/sms", data=tw.sms_params(From=sc.ALICE_MOBILE, To=SERVICE, Body="CALL"))
    assert response.status_code == 403 and p.requests() == []


def test_one_stage_call_asks_press_1_before_dialling(p):
    text(p, sc.ALICE_MOBILE, "00442071234567")
    row = only_request(p)
    session = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=SERVICE)
    session.request_id = row["id"]
    with TwilioRecorder().cassette("calls_create.yaml"):
        assert p.dispatch() == 1
    verbs = session.step("answer")
    assert verbs[0].name == "Gather" and verbs[0].attrs["numDigits"] == "1"
    assert "Press 1 to be connected to 4, 4, 2" in tw.spoken(verbs)
    verbs = session.step("confirm", Digits="1")
    assert next(v for v in verbs if v.name == "Dial").find("Number").text == sc.UK_DESTINATION


def test_one_stage_voicemail_is_never_bridged(p):
    text(p, sc.ALICE_MOBILE, "00442071234567")
    row = only_request(p)
    session = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=SERVICE)
    session.request_id = row["id"]
    with TwilioRecorder().cassette("calls_create.yaml"):
        p.dispatch()
    session.step("answer")
    session.step("confirm", Digits="")
    session.step("confirm", Digits="")
    verbs = session.step("confirm", Digits="")
    assert verbs[-1].name == "Hangup" and not any(v.name == "Dial" for v in verbs)
    assert (session.row["state"], session.row["reason"]) == (states.FAILED, states.A_NO_ANSWER)


# The gateway endpoint -------------------------------------------------------


@pytest.fixture
def gateway_secret(p, capsys):
    assert p.cli("gateway", "add", "office-phone") == 0
    return capsys.readouterr().out.strip().rsplit(" ", 1)[-1]


def test_gateway_form_in_smssync_format(p, gateway_secret):
    response = p.client.post("/sms/gateway", data={"from": sc.ALICE_MOBILE, "message": "CALL", "message_id": "42",
                                                   "sent_to": SERVICE, "secret": gateway_secret,
                                                   "sent_timestamp": "1764126000"})
    assert response.status_code == 200
    body = response.json()
    assert body["payload"]["success"] is True and body["payload"]["task"] == "send"
    (message,) = body["payload"]["messages"]
    assert message["to"] == sc.ALICE_MOBILE and message["message"].startswith("Callback queued")
    assert body["reply"] == {"to": sc.ALICE_MOBILE, "text": message["message"]}
    assert only_request(p)["trigger_id"] == "gateway:office-phone:42"


def test_gateway_json_with_header_secret_and_duplicates(p, gateway_secret):
    payload = {"from": sc.ALICE_MOBILE, "text": "BAL", "id": "abc-1"}
    headers = {"X-Gateway-Secret": gateway_secret}
    first = p.client.post("/sms/gateway", json=payload, headers=headers)
    assert first.json()["reply"]["text"] == "Your balance is 10.00 USD."
    second = p.client.post("/sms/gateway", json=payload, headers=headers)
    assert second.status_code == 200 and second.json()["reply"] is None


@pytest.mark.parametrize(
    "send, status",
    [
        (lambda c, s: c.post("/sms/gateway", json={"from": sc.ALICE_MOBILE, "text": "BAL", "secret": "wrong"}), 403),
        (lambda c, s: c.post("/sms/gateway", json={"from": sc.ALICE_MOBILE, "text": "BAL"}), 401),
        (lambda c, s: c.post("/sms/gateway", content=b"{not json", headers={"Content-Type": "application/json",
                                                                             "X-Gateway-Secret": s}), 400),
        (lambda c, s: c.post("/sms/gateway", json=["a", "list"], headers={"X-Gateway-Secret": s}), 422),
        (lambda c, s: c.post("/sms/gateway", json={"from": {"nested": 1}, "text": "x"},
                             headers={"X-Gateway-Secret": s}), 422),
        (lambda c, s: c.post("/sms/gateway", json={"text": "BAL"}, headers={"X-Gateway-Secret": s}), 422),
        (lambda c, s: c.post("/sms/gateway", json={"from": sc.ALICE_MOBILE, "text": "x" * 2000},
                             headers={"X-Gateway-Secret": s}), 413),
        (lambda c, s: c.get("/sms/gateway", params={"secret": s}), 400),
    ],
    ids=["wrong-secret", "no-secret", "bad-json", "not-an-object", "wrong-type", "no-from", "too-long", "no-task"],
)
def test_gateway_bad_input_gets_a_clear_4xx(p, gateway_secret, send, status):
    response = send(p.client, gateway_secret)
    assert response.status_code == status
    body = response.json()
    assert body["payload"]["success"] is False and body["error"]["message"]
    assert p.requests() == []


def test_failure_notice_is_queued_for_the_gateway_to_poll(p, gateway_secret):
    p.client.post("/sms/gateway", json={"from": sc.ALICE_MOBILE, "text": "CALL", "id": "n-1"},
                  headers={"X-Gateway-Secret": gateway_secret})
    row = only_request(p)
    p.run(_fail, p, row["id"])
    p.run(_send_notices, p)
    polled = p.client.get("/sms/gateway", params={"task": "send", "secret": gateway_secret}).json()
    (message,) = polled["payload"]["messages"]
    assert message["to"] == sc.ALICE_MOBILE
    assert message["message"] == "Your callback could not be completed: your line was busy."
    again = p.client.get("/sms/gateway", params={"task": "send", "secret": gateway_secret}).json()
    assert again["payload"]["messages"] == []


async def _fail(p: PlatformUnderTest, request_id: int):
    from app.data import callbacks

    row = await callbacks.get_request(p.platform.db, request_id=request_id)
    await callbacks.transition(p.platform.db, row, states.FAILED, reason=states.A_BUSY)


async def _send_notices(p: PlatformUnderTest):
    from app.calls import notices

    return await notices.send_outcome_notices(p.platform)


def test_gateway_cli_lists_and_removes(p, gateway_secret, capsys):
    assert p.cli("gateway", "list") == 0
    assert "office-phone" in capsys.readouterr().out
    assert p.cli("gateway", "add", "office-phone") == 1
    assert p.cli("gateway", "remove", "office-phone") == 0
    response = p.client.post("/sms/gateway", json={"from": sc.ALICE_MOBILE, "text": "BAL", "secret": gateway_secret})
    assert response.status_code == 403


def test_a_verify_code_is_not_stored_in_clear(p, engine):
    (reply,) = text(p, sc.STRANGER, "VERIFY 583920")
    assert reply == "That code is not right, or no code is waiting for this phone."
    (reply,) = text(p, sc.STRANGER, "verify,583921")
    with engine.connect() as c:
        bodies = c.execute(sa.select(sms_messages.c.body).where(sms_messages.c.direction == "in")
                           .order_by(sms_messages.c.id)).scalars().all()
    assert bodies == ["VERIFY ***", "verify ***"]


def test_two_accounts_registering_one_number_at_once_get_an_answer_each(p, engine):
    """Alice and bob text `R.<phone>` from the same phone at the same moment, for ten phones: each
    phone becomes one account's caller ID, and the other account gets a refusal, never a 500."""
    phones = [f"+1415555030{i}" for i in range(10)]

    async def race():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app), base_url=BASE) as client:
            async def send(login, phone):
                params = tw.sms_params(From=phone, To=SERVICE, Body=f"U.{login} P.{login}-password R.{phone}")
                return await client.post("/twilio/sms", data=params,
                                         headers={"X-Twilio-Signature": tw.sign(BASE + "/twilio/sms", params)})

            return await asyncio.gather(*(send(login, phone) for phone in phones for login in ("alice", "bob")))

    responses = p.run(race)
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    replies = [tw.parse_messages(r.text)[0] for r in responses]
    for i, phone in enumerate(phones):
        pair = replies[2 * i: 2 * i + 2]
        registered = f"{phone} is now registered to your account."
        assert pair.count(registered) == 1, pair
        # The other: refused by the registration, or, once the phone is the first account's, by the login.
        assert {r for r in pair if r != registered} <= {"That number cannot be registered. Send HELP for help.",
                                                        NOT_AUTHORIZED}, pair
    with engine.connect() as c:
        rows = c.execute(sa.select(anis.c.number, anis.c.verified).where(anis.c.number.in_(phones))).all()
    assert sorted(rows) == [(phone, True) for phone in phones]
