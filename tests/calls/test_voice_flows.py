"""The five voice modes, end to end through signed webhooks, with TwiML parsed out."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data import callbacks
from app.core import states
from app.data.db import utcnow
from app.data.tables import accounts
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest
from tests.utils.provider import TwilioRecorder
from tests.utils.twilio import spoken


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        yield platform


@pytest.fixture
def provider():
    recorder = TwilioRecorder()
    with recorder.cassette("calls_create.yaml"):
        yield recorder


def balance(p: PlatformUnderTest, login: str) -> int:
    return p.scalar(sa.select(accounts.c.balance).where(accounts.c.login == login))


def assert_rejected_busy(verbs):
    assert verbs[0].name == "Reject" and verbs[0].attrs == {"reason": "busy"}
    assert len(verbs) == 1


def placed(session: sc.Session, provider: TwilioRecorder) -> dict:
    assert session.p.dispatch() == 1
    row = session.row
    assert row["state"] == states.CALLING_A and row["leg_a_sid"].startswith("CA")
    return provider.sent[-1]


def test_pin_mode_calls_the_caller_back_asks_pin_then_destination_and_dials(p, provider):
    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    assert_rejected_busy(s.trigger())
    assert s.row["state"] == states.QUEUED and s.row["needs_pin"]

    sent = placed(s, provider)
    assert sent["To"] == [sc.STRANGER] and sent["From"] == [sc.PIN_NUMBER]
    assert sent["Url"] == [f"http://testserver/legs/{s.request_id}/answer"]
    assert sent["StatusCallback"] == [f"http://testserver/twilio/status?request={s.request_id}&leg=a"]
    assert sent["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]

    assert s.status_a("initiated").status_code == 204
    verbs = s.step("answer")
    gather = verbs[0]
    assert gather.name == "Gather"
    assert gather.attrs["action"] == f"http://testserver/legs/{s.request_id}/pin"
    assert gather.attrs["finishOnKey"] == "#" and gather.attrs["input"] == "dtmf"
    assert "PIN" in spoken(verbs)
    assert s.row["state"] == states.A_ANSWERED

    verbs = s.step("pin", Digits=sc.ALICE_PIN)
    assert verbs[0].name == "Gather" and verbs[0].attrs["action"].endswith(f"/legs/{s.request_id}/destination")
    assert s.row["account_id"] is not None and not s.row["needs_pin"]

    verbs = s.step("destination", Digits="011442071234567")
    dial = next(v for v in verbs if v.name == "Dial")
    number = dial.find("Number")
    assert number.text == sc.UK_DESTINATION
    assert dial.attrs["hangupOnStar"] == "true"
    assert dial.attrs["action"] == f"http://testserver/legs/{s.request_id}/dialed"
    assert dial.attrs["callerId"] == sc.PIN_NUMBER
    assert number.attrs["statusCallback"] == f"http://testserver/twilio/status?request={s.request_id}&leg=b"
    assert set(number.attrs["statusCallbackEvent"].split()) == {"initiated", "ringing", "answered", "completed"}
    # 10.00 at 0.01 (leg A) + 0.05 (leg B) per minute: well over an hour, capped at 4 h.
    assert 60 <= int(dial.attrs["timeLimit"]) <= 4 * 3600
    assert s.row["state"] == states.CALLING_B and s.row["leg_b_number"] == sc.UK_DESTINATION

    leg_b = tw.call_sid()
    s.status_b(leg_b, "ringing", 1)
    s.status_b(leg_b, "in-progress", 2)
    assert s.row["state"] == states.CONNECTED
    s.status_b(leg_b, "completed", 3, duration=125)
    verbs = s.step("dialed", DialCallStatus="completed", DialCallSid=leg_b, DialCallDuration="125")
    assert verbs[0].name == "Gather" and verbs[0].attrs["numDigits"] == "1"
    assert s.row["state"] == states.A_ANSWERED

    verbs = s.step("next", Digits="")
    assert verbs[-1].name == "Hangup"
    s.status_a("completed", duration=200)
    row = s.row
    assert row["state"] == states.COMPLETED and row["reason"] is None
    legs = {leg["leg"]: leg for leg in p.legs(s.request_id)}
    # Leg A: 200 s at 60/60 -> 240 s at 0.01 = 0.04. Leg B: 125 s at 30/6 -> 126 s at 0.05 = 0.105 -> 0.11.
    assert (legs["a"]["billed_seconds"], legs["a"]["cost"]) == (240, 4)
    assert (legs["b"]["billed_seconds"], legs["b"]["cost"]) == (126, 11)
    assert balance(p, "alice") == 1000 - 4 - 11
    trail = [(e["from_state"], e["to_state"]) for e in p.events(s.request_id)]
    assert trail == [
        ("queued", "calling_a"), ("calling_a", "a_answered"), ("a_answered", "calling_b"),
        ("calling_b", "connected"), ("connected", "a_answered"), ("a_answered", "completed"),
    ]


def test_several_calls_in_one_session(p, provider):
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    for n, destination in enumerate(["2125550123", "00442071234567"], start=1):
        verbs = s.step("destination", Digits=destination)
        assert any(v.name == "Dial" for v in verbs)
        leg_b = tw.call_sid()
        s.status_b(leg_b, "in-progress", 1)
        s.step("dialed", DialCallStatus="completed", DialCallSid=leg_b, DialCallDuration="30")
        verbs = s.step("next", Digits="1")
        assert verbs[0].name == "Gather" and verbs[0].attrs["action"].endswith("/destination")
    assert s.row["calls_connected"] == 2
    dialled = [e["detail"] for e in p.events(s.request_id) if e["to_state"] == states.CALLING_B]
    assert dialled == ["+12125550123", sc.UK_DESTINATION]


def test_wrong_pin_is_asked_again_and_three_strikes_hang_up(p, provider):
    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    verbs = s.step("pin", Digits="111111")
    assert "not valid" in spoken(verbs) and verbs[-1].name == "Gather"
    verbs = s.step("pin", Digits="' OR 1=1 --")
    assert verbs[-1].name == "Gather"
    verbs = s.step("pin", Digits="222222")
    assert verbs[-1].name == "Hangup" and "Too many" in spoken(verbs)
    assert (s.row["state"], s.row["reason"], s.row["pin_failures"]) == (states.FAILED, states.AUTH_FAILED, 3)
    # Further posts on a finished session only say goodbye.
    assert s.step("pin", Digits=sc.ALICE_PIN)[-1].name == "Hangup"
    assert s.row["account_id"] is None


def test_voicemail_on_leg_a_is_never_connected(p, provider):
    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    s.step("pin", Digits="")
    s.step("pin", Digits="")
    verbs = s.step("pin", Digits="")
    assert verbs[-1].name == "Hangup"
    assert (s.row["state"], s.row["reason"]) == (states.FAILED, states.A_NO_ANSWER)
    assert s.row["pin_failures"] == 0


def test_ani_mode_calls_the_default_number_without_a_pin(p, provider):
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    assert_rejected_busy(s.trigger())
    assert s.row["leg_a_number"] == sc.ALICE_HOME and not s.row["needs_pin"]
    sent = placed(s, provider)
    assert sent["To"] == [sc.ALICE_HOME]
    verbs = s.step("answer")
    assert verbs[0].attrs["action"].endswith("/destination")


def test_ani_mode_without_default_number_calls_the_caller_id(p, provider):
    s = sc.Session(p, caller=sc.BOB_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    assert s.row["leg_a_number"] == sc.BOB_MOBILE


@pytest.mark.parametrize("caller", [sc.STRANGER, "anonymous", "+266696687", "", "Restricted"])
def test_ani_mode_refuses_unknown_and_withheld_callers(p, provider, caller):
    s = sc.Session(p, caller=caller, service_number=sc.ANI_NUMBER)
    assert_rejected_busy(s.trigger())
    row = s.row
    assert (row["state"], row["reason"]) == (states.FAILED, states.AUTH_FAILED)
    assert p.dispatch() == 0 and provider.sent == []


@pytest.mark.parametrize("caller", ["anonymous", "+266696687", "not-a-number"])
def test_pin_mode_refuses_a_withheld_caller_id(p, provider, caller):
    s = sc.Session(p, caller=caller, service_number=sc.PIN_NUMBER)
    assert_rejected_busy(s.trigger())
    assert (s.row["state"], s.row["reason"]) == (states.FAILED, states.AUTH_FAILED)
    assert "withheld" in p.events(s.request_id)[0]["detail"]


def test_ani_then_pin_skips_the_pin_for_a_registered_caller_only(p, provider):
    known = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_THEN_PIN_NUMBER)
    known.trigger()
    assert not known.row["needs_pin"] and known.row["leg_a_number"] == sc.ALICE_HOME
    stranger = sc.Session(p, caller=sc.STRANGER, service_number=sc.ANI_THEN_PIN_NUMBER)
    stranger.trigger()
    assert stranger.row["needs_pin"] and stranger.row["leg_a_number"] == sc.STRANGER
    assert p.dispatch() == 2
    assert stranger.step("answer")[0].attrs["action"].endswith("/pin")
    assert stranger.step("pin", Digits=sc.BOB_PIN)[0].attrs["action"].endswith("/destination")


def test_ani_and_pin_needs_both_and_the_pin_of_that_account(p, provider):
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_AND_PIN_NUMBER)
    s.trigger()
    assert s.row["needs_pin"] and s.row["leg_a_number"] == sc.ALICE_MOBILE
    placed(s, provider)
    s.step("answer")
    verbs = s.step("pin", Digits=sc.BOB_PIN)  # a real PIN, but another account's
    assert "not valid" in spoken(verbs) and s.row["pin_failures"] == 1
    assert s.step("pin", Digits=sc.ALICE_PIN)[0].attrs["action"].endswith("/destination")

    stranger = sc.Session(p, caller=sc.STRANGER, service_number=sc.ANI_AND_PIN_NUMBER)
    stranger.trigger()
    assert (stranger.row["state"], stranger.row["reason"]) == (states.FAILED, states.AUTH_FAILED)


@pytest.mark.parametrize("caller", ["anonymous", sc.STRANGER])
def test_did_mode_calls_the_accounts_number_never_the_caller(p, provider, caller):
    s = sc.Session(p, caller=caller, service_number=sc.ALICE_DID)
    assert_rejected_busy(s.trigger())
    assert s.row["leg_a_number"] == sc.ALICE_HOME and not s.row["needs_pin"]
    assert placed(s, provider)["To"] == [sc.ALICE_HOME]


def test_destination_typed_nationally_or_invalid(p, provider):
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    verbs = s.step("destination", Digits="12")
    assert "not valid" in spoken(verbs) and verbs[-1].name == "Gather"
    verbs = s.step("destination", Digits="+33 1 23")  # junk a keypad cannot even send
    assert verbs[-1].name == "Gather"
    verbs = s.step("destination", Digits="4155550123")
    assert next(v for v in verbs if v.name == "Dial").find("Number").text == "+14155550123"


def test_destination_without_a_rate_is_refused(p, provider):
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    for _ in range(2):
        verbs = s.step("destination", Digits="0033123456789")  # France: no rate
        assert "not available" in spoken(verbs) and verbs[-1].name == "Gather"
    verbs = s.step("destination", Digits="0033123456789")
    assert verbs[-1].name == "Hangup"
    assert (s.row["state"], s.row["reason"]) == (states.FAILED, states.DESTINATION_BLOCKED)


def test_leg_b_busy_is_said_and_the_session_fails_with_b_busy(p, provider):
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    s.step("destination", Digits="2125550123")
    leg_b = tw.call_sid()
    s.status_b(leg_b, "busy", 1, duration=0)
    verbs = s.step("dialed", DialCallStatus="busy", DialCallSid=leg_b, DialCallDuration="0")
    assert "busy" in spoken(verbs) and verbs[-1].name == "Gather"
    s.status_a("completed", duration=40)
    assert (s.row["state"], s.row["reason"]) == (states.FAILED, states.B_BUSY)
    legs = {leg["leg"]: leg for leg in p.legs(s.request_id)}
    assert legs["b"]["cost"] == 0 and legs["a"]["cost"] == 1


def test_repeated_and_late_status_callbacks_bill_once(p, provider):
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    before = balance(p, "alice")
    for _ in range(3):
        assert s.status_a("completed", duration=61).status_code == 204
    assert balance(p, "alice") == before - 2
    assert s.row["state"] == states.FAILED


def test_leg_a_busy_is_retried_then_fails(p, provider):
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    placed(s, provider)
    s.status_a("busy", duration=0)
    row = s.row
    assert row["state"] == states.QUEUED and row["leg_a_sid"] is None  # alice's policy: one retry
    p.run(_make_due, p, s.request_id)
    placed(s, provider)
    s.status_a("busy", duration=0)
    assert (s.row["state"], s.row["reason"]) == (states.FAILED, states.A_BUSY)
    assert [leg["status"] for leg in p.legs(s.request_id)] == ["busy", "busy"]


async def _make_due(p: PlatformUnderTest, request_id: int):
    from app.data import callbacks
    from app.data.db import utcnow

    await callbacks.update_request(p.platform.db, request_id=request_id, due_at=utcnow())


def test_duplicate_trigger_creates_one_request(p, provider):
    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    assert_rejected_busy(s.trigger())
    assert_rejected_busy(s.trigger())
    assert len(p.requests()) == 1
    assert p.dispatch() == 1 and p.dispatch() == 0
    assert provider.played == 1


def test_unknown_service_number_is_rejected_without_a_request(p, provider):
    verbs = p.twiml("/twilio/voice", tw.voice_params(From=sc.STRANGER, To="+18005559999"))
    assert_rejected_busy(verbs)
    assert p.requests() == []


def test_blocked_account_gets_no_callback(p, provider, engine):
    with engine.begin() as c:
        c.execute(accounts.update().where(accounts.c.login == "alice").values(status="blocked"))
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    assert (s.row["state"], s.row["reason"]) == (states.FAILED, states.AUTH_FAILED)


def test_empty_balance_gets_no_callback(p, provider, engine):
    with engine.begin() as c:
        c.execute(accounts.update().where(accounts.c.login == "alice").values(balance=0))
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    assert (s.row["state"], s.row["reason"]) == (states.FAILED, states.INSUFFICIENT_FUNDS)


def test_ten_wrong_pins_in_an_hour_lock_the_caller_out(p, provider, lockout_clock):
    for _ in range(3):
        s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
        s.trigger()
        p.dispatch()
        s.step("answer")
        for attempt in range(3):
            lockout_clock.wait_out_backoff()
            s.step("pin", Digits=f"99999{attempt}")
    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    s.trigger()
    p.dispatch()
    s.step("answer")
    lockout_clock.wait_out_backoff()
    s.step("pin", Digits="999990")  # the tenth failure
    locked = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    assert_rejected_busy(locked.trigger())
    assert (locked.row["state"], locked.row["reason"]) == (states.FAILED, states.AUTH_FAILED)
    assert "locked out" in p.events(locked.request_id)[0]["detail"]


def test_rapid_wrong_pins_from_one_caller_meet_a_backoff(p, provider, monkeypatch, lockout_clock):
    from app.data import accounts as accounts_module
    from app.fraud import lockouts
    from app.data.tables import auth_failures

    checked = []  # the PINs taken: those the lockout's verdict let through
    real = accounts_module.check_pin
    verdict = lockouts.refused_unchecked

    async def counting(db, *, pin, **lockout):
        account, figures = await real(db, pin=pin, **lockout)
        if not verdict(lockouts.Attempt((lockout["attempt"],), lockout["since"] + lockouts.WINDOW), **figures):
            checked.append(pin)
        return account, figures

    monkeypatch.setattr(accounts_module, "check_pin", counting)

    def answered(caller: str) -> sc.Session:
        s = sc.Session(p, caller=caller, service_number=sc.PIN_NUMBER)
        s.trigger()
        placed(s, provider)
        s.step("answer")
        return s

    # The clock stands still: the caller hangs up after three wrong PINs and calls straight back.
    first = answered(sc.STRANGER)
    for n in range(lockouts.BACKOFF_AFTER):
        first.step("pin", Digits=f"99999{n}")
    second = answered(sc.STRANGER)
    verbs = second.step("pin", Digits=sc.ALICE_PIN)
    # Not checked, and answered as a wrong PIN would be: the caller is asked again.
    assert "not valid" in spoken(verbs) and verbs[-1].name == "Gather"
    assert len(checked) == lockouts.BACKOFF_AFTER and second.row["pin_failures"] == 1
    assert p.scalar(sa.select(sa.func.count()).select_from(auth_failures)) == lockouts.BACKOFF_AFTER
    # Another caller is unaffected.
    assert answered(sc.ALICE_MOBILE).step("pin", Digits=sc.ALICE_PIN)[0].attrs["action"].endswith("/destination")
    # Once the wait has passed, the caller's next PIN is checked.
    lockout_clock.advance(lockouts.BACKOFF_FIRST)
    assert second.step("pin", Digits=sc.ALICE_PIN)[0].attrs["action"].endswith("/destination")


def test_a_locked_account_refuses_even_its_right_pin(p, provider):
    from app.fraud import lockouts

    from app.data.tables import auth_failures

    alice_id = p.scalar(sa.select(accounts.c.id).where(accounts.c.login == "alice"))
    # Locked on the voice channel by many callers together (one caller, or another channel, cannot lock it).
    with p.engine.begin() as c:
        c.execute(auth_failures.insert(), [dict(account_id=alice_id, requester=f"+1000000{n:04d}", channel="voice",
                                                at=utcnow()) for n in range(lockouts.ACCOUNT_MAX_FAILURES)])
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_AND_PIN_NUMBER)
    s.trigger()
    p.dispatch()
    s.step("answer")
    verbs = s.step("pin", Digits=sc.ALICE_PIN)
    assert "not valid" in spoken(verbs)
    p.run(lockouts.clear, p.platform.db, account_id=alice_id)
    assert s.step("pin", Digits=sc.ALICE_PIN)[0].attrs["action"].endswith("/destination")


def _pin_session(p) -> sc.Session:
    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    s.trigger()
    p.dispatch()
    s.step("answer")
    return s


def _holds(p) -> tuple[int, int]:
    from app.data.tables import auth_failures

    return (p.scalar(sa.select(accounts.c.reserved).where(accounts.c.login == "alice")),
            p.scalar(sa.select(sa.func.count()).select_from(auth_failures)))


def test_a_right_pin_without_the_balance_for_leg_a_ends_the_session_holding_nothing(p, provider, engine):
    with engine.begin() as c:
        c.execute(accounts.update().where(accounts.c.login == "alice").values(balance=1))
    s = _pin_session(p)
    verbs = s.step("pin", Digits=sc.ALICE_PIN)
    assert verbs[-1].name == "Hangup" and "balance" in spoken(verbs).lower()
    row = s.row
    assert (row["state"], row["reason"], row["reserved"]) == (states.FAILED, states.INSUFFICIENT_FUNDS, 0)
    assert row["account_id"] == p.scalar(sa.select(accounts.c.id).where(accounts.c.login == "alice"))
    assert _holds(p) == (0, 0)  # nothing held, and the right PIN is not counted as a failure


def test_a_right_pin_beyond_the_resellers_credit_holds_nothing_of_the_account_either(p, provider):
    from app.data import resellers

    alice_id = p.scalar(sa.select(accounts.c.id).where(accounts.c.login == "alice"))
    acme = p.run(resellers.create_reseller, p.platform.db, login="acme", password="acme-password",
                 tariff="default", currency="USD", credit_limit=0)
    p.run(resellers.attach, p.platform.db, reseller_id=acme, account_id=alice_id)
    s = _pin_session(p)
    verbs = s.step("pin", Digits=sc.ALICE_PIN)
    assert verbs[-1].name == "Hangup"
    assert (s.row["state"], s.row["reason"], s.row["reserved"]) == (states.FAILED, states.INSUFFICIENT_FUNDS, 0)
    # The account's side of the hold had moved before the reseller's fell short: rolled back with it.
    assert _holds(p) == (0, 0)


def test_leg_a_can_go_unbilled_when_nobody_was_connected(settings, engine):
    recorder = TwilioRecorder()
    with PlatformUnderTest(settings.with_(bill_leg_a_without_b=False), engine) as p, recorder.cassette("calls_create.yaml"):
        sc.seed(p)
        s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
        s.trigger()
        placed(s, recorder)
        s.step("answer")
        s.step("destination", Digits="2125550123")
        leg_b = tw.call_sid()
        s.status_b(leg_b, "busy", 1, duration=0)
        s.step("dialed", DialCallStatus="busy", DialCallSid=leg_b, DialCallDuration="0")
        s.status_a("completed", duration=95)
        legs = {leg["leg"]: leg for leg in p.legs(s.request_id)}
        assert (legs["a"]["billed_seconds"], legs["a"]["cost"]) == (120, 0)
        assert balance(p, "alice") == 1000


def test_transitions_are_logged_as_json_with_the_callback_id(p, provider, no_secrets_in_logs):
    import json

    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    for _ in range(3):
        s.step("pin", Digits="917364")
    records = [json.loads(line) for line in no_secrets_in_logs.lines]
    # At INFO, a request's end (the moves on the way are at DEBUG, and in its events).
    moves = [r for r in records if r.get("callback_id") == s.request_id and r.get("state")]
    assert [(r["state"], r["reason"]) for r in moves] == [(states.FAILED, states.AUTH_FAILED)]
    assert [e["to_state"] for e in p.events(s.request_id)][-3:] == [states.CALLING_A, states.A_ANSWERED, states.FAILED]
    assert any("wrong PIN" in r["message"] for r in records)
    assert not any("917364" in line for line in no_secrets_in_logs.lines)


def test_a_bridged_call_counts_even_when_its_status_callbacks_come_late(p, provider):
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    s.step("destination", Digits="2125550123")
    leg_b = tw.call_sid()
    s.step("dialed", DialCallStatus="completed", DialCallSid=leg_b, DialCallDuration="30", DialBridged="true")
    s.step("next", Digits="")
    assert (s.row["state"], s.row["calls_connected"]) == (states.COMPLETED, 1)
    s.status_b(leg_b, "in-progress", 2)  # the late reports change nothing...
    s.status_b(leg_b, "completed", 3, duration=30)
    assert s.row["calls_connected"] == 1
    legs = {leg["leg"]: leg for leg in p.legs(s.request_id)}
    assert legs["b"]["duration_seconds"] == 30 and legs["b"]["cost"] == 1  # ...but bill the leg


def test_a_dial_action_that_meets_leg_b_counted_but_not_connected_connects_the_session_first(p, provider):
    """Leg B's own "in-progress" report stamps its answer and then moves the request: a Dial action
    served in between finds the call counted and the request still calling leg B. It connects the
    session itself, so the trail is the same whichever report comes first."""
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    placed(s, provider)
    s.step("answer")
    s.step("destination", Digits="2125550123")
    leg_b = tw.call_sid()
    row = s.row
    # Leg B's report, stopped after its first statement: the leg answered, the call counted, no move yet.
    assert p.run(callbacks.leg_answered, p.platform.db, request_id=s.request_id, leg="b", sid=leg_b,
                 direction="outbound-dial", from_number=row["leg_a_from"], to_number=row["leg_b_number"])
    p.run(callbacks.increment, p.platform.db, request_id=s.request_id, column="calls_connected")
    verbs = s.step("dialed", DialCallStatus="completed", DialCallSid=leg_b, DialCallDuration="30")
    assert verbs[0].name == "Gather" and s.row["state"] == states.A_ANSWERED
    s.status_b(leg_b, "in-progress", 2)  # the rest of its report: the request has moved on, nothing changes
    s.step("next", Digits="")
    assert (s.row["state"], s.row["calls_connected"]) == (states.COMPLETED, 1)
    trail = [e["to_state"] for e in p.events(s.request_id)]
    assert trail == ["calling_a", "a_answered", "calling_b", "connected", "a_answered", "completed"]


def test_the_answer_runs_the_ivr_when_the_create_response_records_its_sid_meanwhile(p, monkeypatch):
    """Leg A can answer before the create call's response is written: the answer webhook then
    records the sid itself, and if the response lands between its read and its write, the call
    is still its own, not hung up on (which used to end such callbacks `a_failed`)."""
    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    s.trigger()
    p.run(callbacks.claim_due, p.platform.db, now=utcnow(), limit=1)
    assert s.row["state"] == states.CALLING_A and s.row["leg_a_sid"] is None
    sid = tw.call_sid()
    attach = callbacks.attach_leg_a

    async def create_response_lands_first(db, *, request_id, sid, **provider):
        assert await attach(db, request_id=request_id, sid=sid)  # the dispatcher's write
        return await attach(db, request_id=request_id, sid=sid, **provider)  # the webhook's: a no-op now

    monkeypatch.setattr(callbacks, "attach_leg_a", create_response_lands_first)
    params = tw.voice_params(From=sc.PIN_NUMBER, To=sc.STRANGER, CallSid=sid, CallStatus="in-progress",
                             Direction="outbound-api")
    verbs = p.twiml(f"/legs/{s.request_id}/answer", params)
    assert verbs[0].name == "Gather" and "PIN" in spoken(verbs)
    assert (s.row["state"], s.row["leg_a_sid"]) == (states.A_ANSWERED, sid)
