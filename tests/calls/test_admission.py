"""The admission every trigger channel goes through (app/calls/admission.py): its order and its outcomes.

Each refusal reason once, then the order: an Ask failing every check is refused
for the first, and mending the checks one by one walks down the documented order.
The channels' own answers to a refusal are tested with the channels
(test_voice_flows, test_sms_flows, test_api, test_portal).
"""

from __future__ import annotations

import dataclasses

import pytest

from app.calls import admission
from app.core import states
from app.data import accounts
from app.fraud import lockouts, policy
from tests.utils import scenario as sc
from tests.utils.harness import BASE, PlatformUnderTest
from tests.utils.live import seed

NY = "+12125550123"
PARIS = "+33123456789"  # no rate for France in the test data
PREMIUM = "+19005551234"  # refused by the destination policy


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings.with_(trigger_limit=2), engine) as platform:
        platform.run(seed, platform.platform.db, settings.secret_key)
        yield platform


def alice(p: PlatformUnderTest, **values):
    """Alice's account row, after `values` are written to it."""
    db = p.platform.db
    row = p.run(accounts.get_account_by_login, db, login="alice")
    if values:
        p.run(accounts.update_account, db, account_id=row["id"], **values)
        row = p.run(accounts.get_account, db, account_id=row["id"])
    return row


counter = iter(range(10**6))


def ask(p: PlatformUnderTest, channel: str = "web", **fields) -> admission.Ask:
    values = dict(channel=channel, trigger_id=f"t{next(counter)}", requester=f"{channel}:alice",
                  account=alice(p), leg_a=sc.ALICE_HOME, destination=NY, service_number=sc.PIN_NUMBER,
                  mode=channel, base_url=BASE)
    values.update(fields)
    return admission.Ask(**values)


def admit(p: PlatformUnderTest, an_ask: admission.Ask, **options):
    return p.run(admission.admit, p.platform, an_ask, **options)


def reason(outcome) -> str | None:
    return outcome.reason if isinstance(outcome, admission.Refused) else None


# Outcomes ------------------------------------------------------------------------


def test_an_admitted_ask_is_one_queued_request_and_the_same_trigger_again_is_not_another(p):
    first_ask = ask(p, notify_number=sc.ALICE_HOME)
    first = admit(p, first_ask)
    assert isinstance(first, admission.Admitted) and first.created
    assert (first.leg_a, first.destination) == (sc.ALICE_HOME, NY)
    (row,) = p.requests()
    assert (row["id"], row["state"], row["trigger_kind"], row["account_id"]) == \
        (first.request_id, states.QUEUED, "web", alice(p)["id"])
    assert (row["leg_a_number"], row["leg_b_number"], row["leg_a_from"], row["notify_number"]) == \
        (sc.ALICE_HOME, NY, sc.PIN_NUMBER, sc.ALICE_HOME)
    assert row["confirm_mode"] == alice(p)["confirm_mode"]
    again = admit(p, first_ask)
    assert isinstance(again, admission.Admitted) and not again.created and again.request_id == first.request_id
    assert len(p.requests()) == 1


def test_a_channel_may_set_the_confirmation_and_precheck_without_queueing(p):
    row = alice(p, confirm_mode="none")
    refused = p.run(admission.precheck, p.platform, ask(p, account=row, leg_a=PREMIUM))
    assert refused.reason == states.DESTINATION_BLOCKED and p.requests() == []
    assert p.run(admission.precheck, p.platform, ask(p, account=row)) is None and p.requests() == []
    admit(p, ask(p, account=row, confirm_mode="press1"))
    admit(p, ask(p, account=row))
    assert [r["confirm_mode"] for r in p.requests()] == ["press1", "none"]


def test_a_blocked_account_is_refused(p):
    refused = admit(p, ask(p, account=alice(p, status="blocked")))
    assert (reason(refused), refused.detail) == (states.AUTH_FAILED, "account is blocked")


def test_a_caller_locked_out_after_wrong_pins_is_refused_when_a_pin_is_to_come(p):
    for _ in range(lockouts.MAX_FAILURES):
        p.run(lockouts.record_failure, p.platform.db, account_id=None, requester=sc.STRANGER, channel="voice")
    pin_ask = ask(p, "voice", account=None, leg_a=sc.STRANGER, destination=None, needs_pin=True)
    refused = admit(p, pin_ask)
    assert (reason(refused), refused.detail) == (states.AUTH_FAILED, "locked out after too many wrong PINs")
    # Lockouts of a PIN belong to the PIN: with the account known and no PIN to type, the same leg A is admitted.
    assert isinstance(admit(p, dataclasses.replace(pin_ask, needs_pin=False, account=alice(p))), admission.Admitted)


@pytest.mark.parametrize("leg", ["leg_a", "destination"])
def test_either_leg_refused_by_the_policy_or_without_a_rate_is_refused_with_its_number(p, leg):
    for number, why in ((PREMIUM, "premium-rate number"), (PARIS, "no rate")):
        refused = admit(p, ask(p, **{leg: number}))
        assert (reason(refused), refused.number) == (states.DESTINATION_BLOCKED, number)
        assert refused.detail == "calls to that number are not available"  # what the requester is shown
        assert why in refused.note and number in refused.note  # what the operator's log keeps


def test_the_account_policy_applies_to_both_legs(p):
    policy_row = alice(p)
    p.run(policy.add_rule, p.platform.db, kind="deny_prefix", value="1212", account_id=policy_row["id"])
    assert reason(admit(p, ask(p))) == states.DESTINATION_BLOCKED
    assert reason(admit(p, ask(p, leg_a=NY, destination=sc.ALICE_HOME))) == states.DESTINATION_BLOCKED
    assert reason(admit(p, ask(p, destination=sc.BOB_MOBILE))) is None


def test_an_empty_balance_is_refused(p):
    refused = admit(p, ask(p, account=alice(p, balance=100, reserved=100)))
    assert (reason(refused), refused.detail, refused.note) == \
        (states.INSUFFICIENT_FUNDS, "balance too low", "balance exhausted")


def test_no_number_to_call_from_is_refused(p):
    assert reason(admit(p, ask(p, service_number=None))) == "unavailable"


def test_the_requester_limit_counts_per_requester_unless_told_not_to(p):
    alice(p, max_concurrent=100)
    assert [reason(admit(p, ask(p))) for _ in range(3)] == [None, None, states.RATE_LIMITED]
    assert reason(admit(p, ask(p, requester="web:someone-else"))) is None
    # The API's integrators are not counted per requester.
    assert [reason(admit(p, ask(p, "api"), per_requester=False)) for _ in range(3)] == [None, None, None]


def test_the_account_concurrency_cap(p):
    alice(p, max_concurrent=1)
    assert reason(admit(p, ask(p, requester="a"))) is None
    refused = admit(p, ask(p, requester="b"))
    assert (reason(refused), refused.detail) == (states.RATE_LIMITED, "too many callbacks in progress")


def test_without_an_account_yet_balance_and_concurrency_wait_for_the_pin(p):
    # A voice trigger in PIN mode: ivr.py checks the balance and the account's slots once the PIN is typed.
    alice(p, balance=0, max_concurrent=0)
    pin_ask = ask(p, "voice", account=None, leg_a=sc.STRANGER, destination=None, needs_pin=True,
                  requester=sc.STRANGER, mode="pin")
    admitted = admit(p, pin_ask, keep_refusals=True)
    assert isinstance(admitted, admission.Admitted)
    row = p.request(admitted.request_id)
    assert (row["account_id"], row["needs_pin"], row["leg_b_number"], row["confirm_mode"]) == (None, True, None, None)


def test_kept_refusals_are_failed_rows_with_the_operators_detail(p):
    refused = admit(p, ask(p, "voice", leg_a=PARIS, destination=None, requester=sc.ALICE_MOBILE, mode="ani"),
                    keep_refusals=True)
    (row,) = p.requests()
    assert (row["state"], row["reason"], row["caller_id"], row["account_id"]) == \
        (states.FAILED, states.DESTINATION_BLOCKED, sc.ALICE_MOBILE, None)
    assert p.events(row["id"])[0]["detail"] == refused.note == f"callback number {PARIS}: no rate"
    # Other channels answer the requester and keep nothing.
    admit(p, ask(p, leg_a=PARIS))
    assert len(p.requests()) == 1


def test_refusals_by_a_cap_are_kept_too_and_counted_by_the_next_trigger(p):
    alice(p, max_concurrent=0)
    voice = dict(destination=None, requester=sc.ALICE_MOBILE, mode="ani")
    outcomes = [reason(admit(p, ask(p, "voice", **voice), keep_refusals=True)) for _ in range(3)]
    # The first two are the account's cap; their failed rows then count against the caller's limit (2).
    assert outcomes == [states.RATE_LIMITED] * 3
    assert [e["detail"] for r in p.requests() for e in p.events(r["id"])] == \
        ["too many callbacks in progress"] * 2 + ["too many triggers from this caller"]


def test_every_channel_has_its_own_answer_to_every_reason():
    from app.calls import texts
    from app.web import api, widget

    reasons = set(admission.REASONS) | {"invalid_number"}
    assert reasons <= set(api.REFUSAL_STATUS)  # the API's status, and the portal's (api.refusal_status)
    assert reasons <= set(texts.REFUSAL_TEXTS)  # the text an SMS trigger gets back
    assert all(400 <= api.refusal_status(r) < 600 for r in reasons)
    assert reasons <= set(widget.STATUS) | set(widget.UNAVAILABLE)  # the website widget's JSON answer


# The order -----------------------------------------------------------------------


def test_the_checks_run_in_the_documented_order(p):
    """Everything wrong at once; mending one thing at a time reveals the next check."""
    row = alice(p, max_concurrent=1)
    for _ in range(lockouts.MAX_FAILURES):
        p.run(lockouts.record_failure, p.platform.db, account_id=None, requester=PREMIUM, channel="voice")
    admit(p, ask(p, requester="filler", leg_a=NY))  # takes alice's one slot
    admit(p, ask(p, requester="busy", leg_a=NY, account=None, destination=None))  # one of "busy"'s two triggers
    admit(p, ask(p, requester="busy", leg_a=NY, account=None, destination=None))
    everything_wrong = dict(account={**row, "status": "blocked", "balance": 0}, needs_pin=True, leg_a=PREMIUM,
                            destination=PARIS, service_number=None, requester="busy")
    mends = [  # (what is mended next, its mended value, the refusal before it is mended)
        ("account", {**row, "balance": 0}, "account is blocked"),  # 1. status
        ("needs_pin", False, "locked out after too many wrong PINs"),  # 2. lockouts (the PIN's caller)
        ("leg_a", sc.ALICE_HOME, f"callback number {PREMIUM}: premium-rate number"),  # 3. leg A
        ("destination", NY, f"destination {PARIS}: no rate"),  # 3. leg B
        ("account", row, "balance exhausted"),  # 4. balance
        ("service_number", sc.PIN_NUMBER, "no service number to call from"),  # 5. a number to call from
        ("requester", "fresh", "too many triggers from this caller"),  # 6. the requester's limit
    ]
    fields = dict(everything_wrong)
    seen = []
    for name, mended, _refusal in mends:
        seen.append(admit(p, ask(p, **fields)).note)
        fields[name] = mended
    seen.append(admit(p, ask(p, **fields)).note)  # 7. the account's concurrency
    assert seen == [refusal for _name, _mended, refusal in mends] + ["too many callbacks in progress"]
    alice(p, max_concurrent=2)
    assert isinstance(admit(p, ask(p, **{**fields, "account": alice(p)})), admission.Admitted)
