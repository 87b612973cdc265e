"""Verification codes are texts the operator pays for, sent to numbers a subscriber chooses.

Through the portal's caller-ID forms and the signed SMS webhook (`R.<phone>`,
`VERIFY <code>`): the codes stop at the daily caps whatever is removed in
between, never go to a number a call could not go to, need money, and a number
named by SMS authorizes nothing until its phone sends the code back.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import sqlalchemy as sa

from app.data import accounts
from app.fraud import policy
from app.core import states
from app.data.tables import accounts as accounts_t
from app.data.tables import anis, balance_adjustments, verification_texts
from tests.web.test_portal import logged_in, text_of
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import BASE, PlatformUnderTest
from tests.utils.live import seed

NEW = "+14155550142"
PREMIUM = "+19005550123"
UK = "+442071234567"  # has a rate in the test data


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        platform.run(seed, platform.platform.db, settings.secret_key)
        yield platform


@pytest.fixture
def texts(p, monkeypatch):
    """What the provider was asked to text: (to, from, body)."""
    sent = []

    async def send_sms(*, to, from_, body):
        sent.append((to, from_, body))
        return f"SM{len(sent):032d}"

    monkeypatch.setattr(p.platform.provider, "send_sms", send_sms)
    return sent


def code_in(sent) -> str:
    return re.search(r"\b(\d{6})\b", sent[-1][2]).group(1)


def sms(p: PlatformUnderTest, sender: str, body: str) -> str:
    response = p.post("/twilio/sms", tw.sms_params(From=sender, To=sc.PIN_NUMBER, Body=body))
    assert response.status_code == 200, response.text
    (reply,) = tw.parse_messages(response.text)
    return reply


def ani_row(p: PlatformUnderTest, number: str):
    with p.engine.connect() as c:
        return c.execute(sa.select(anis).where(anis.c.number == number)).mappings().one_or_none()


def set_alice(p: PlatformUnderTest, **values) -> None:
    with p.engine.begin() as c:
        c.execute(accounts_t.update().where(accounts_t.c.login == "alice").values(**values))


# The portal ---------------------------------------------------------------------------------


def test_adding_and_removing_one_caller_id_again_and_again_stops_at_the_numbers_daily_cap(p, texts):
    alice = logged_in(p)
    alice.get("/settings")
    answers = []
    for _ in range(6):
        answers.append(alice.submit("/settings/anis", {"number": NEW}))
        alice.submit("/settings/anis/remove", {"number": NEW})  # drops the pending code, not the count
    cap = p.platform.settings.verification_number_daily_limit
    assert len(texts) == cap == 3 and {to for to, _, _ in texts} == {NEW}
    for refused in answers[cap:]:
        assert refused.status_code == 422
        assert "No more codes can be texted to that number today" in text_of(refused)
    assert p.scalar(sa.select(sa.func.count()).select_from(verification_texts)) == cap


def test_codes_to_many_numbers_stop_at_the_accounts_daily_cap(p, texts):
    alice = logged_in(p)
    alice.get("/settings")
    answers = []
    for i in range(8):
        number = f"+1415555016{i}"
        answers.append(alice.submit("/settings/anis", {"number": number}))
        alice.submit("/settings/anis/remove", {"number": number})
    cap = p.platform.settings.verification_daily_limit
    assert len(texts) == cap == 5
    assert all(a.status_code == 422 and "No more codes can be texted from your account today" in text_of(a)
               for a in answers[cap:])


def test_parallel_requests_for_codes_stop_at_the_cap(p, texts):
    """The cap is counted and written in one step: twenty forms posted at once send two codes."""
    p.platform.settings = p.platform.settings.with_(verification_daily_limit=2)
    alice = logged_in(p)
    alice.get("/settings")
    csrf, cookies = alice.csrf, alice.cookies

    async def all_at_once():
        transport = httpx.ASGITransport(app=p.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, cookies=cookies) as client:
            return await asyncio.gather(*(
                client.post("/settings/anis", data={"csrf": csrf, "number": f"+141555502{i:02d}"})
                for i in range(20)))

    responses = p.run(all_at_once)
    assert sorted(r.status_code for r in responses) == [303] * 2 + [422] * 18
    assert len(texts) == 2 and p.scalar(sa.select(sa.func.count()).select_from(verification_texts)) == 2


@pytest.mark.parametrize("number, why", [(PREMIUM, "premium rate"), (UK, "country not allowed"),
                                         ("+33123456789", "no rate")])
def test_no_code_to_a_number_a_call_could_not_go_to(p, texts, number, why):
    p.run(policy.add_rule, p.platform.db, kind="allow_country", value="US")
    alice = logged_in(p)
    alice.get("/settings")
    refused = alice.submit("/settings/anis", {"number": number})
    assert refused.status_code == 422, why
    assert f"Codes cannot be texted to {number}." in text_of(refused)
    assert texts == [] and p.scalar(sa.select(sa.func.count()).select_from(verification_texts)) == 0


def test_no_code_without_money_and_each_code_is_charged_when_priced(p, texts):
    set_alice(p, balance=0)
    alice = logged_in(p)
    alice.get("/settings")
    refused = alice.submit("/settings/anis", {"number": NEW})
    assert refused.status_code == 422 and "Your balance is too low to text a code" in text_of(refused)
    assert texts == []

    set_alice(p, balance=3)
    p.platform.settings = p.platform.settings.with_(verification_text_price=2)
    assert "A code was texted" in alice.submit("/settings/anis", {"number": NEW}).text
    with p.engine.connect() as c:
        assert c.execute(sa.select(accounts_t.c.balance).where(accounts_t.c.login == "alice")).scalar() == 1
        adjustment = c.execute(sa.select(balance_adjustments)).mappings().one()
    assert (adjustment["amount"], adjustment["balance_after"], adjustment["actor"]) == (-2, 1, "verification")
    alice.submit("/settings/anis/remove", {"number": NEW})
    too_little = alice.submit("/settings/anis", {"number": NEW})
    assert too_little.status_code == 422 and "balance is too low" in text_of(too_little)
    assert len(texts) == 1


# SMS: U.<login> P.<password> R.<phone> ---------------------------------------------------------


def test_a_number_registered_by_sms_authorizes_nothing_until_its_phone_texts_the_code_back(p, texts):
    reply = sms(p, sc.STRANGER, f"U.alice P.alice-password R.{NEW}")
    assert reply.startswith(f"A code was texted to {NEW}.") and "VERIFY" in reply
    (to, from_, body), = texts
    assert (to, from_) == (NEW, sc.PIN_NUMBER) and "verification code" in body
    assert ani_row(p, NEW)["verified"] is False
    assert p.run(accounts.find_account_by_ani, p.platform.db, number=NEW) is None
    # Not yet an ANI: a call from it to the ANI number gets no callback.
    p.post("/twilio/voice", tw.voice_params(From=NEW, To=sc.ANI_NUMBER))
    assert [(r["state"], r["reason"]) for r in p.requests()] == [(states.FAILED, states.AUTH_FAILED)]
    # Only the phone itself, with the right code, makes it one.
    code = code_in(texts)
    assert sms(p, sc.STRANGER, f"VERIFY {code}") == "That code is not right, or no code is waiting for this phone."
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert sms(p, NEW, f"VERIFY {wrong}") == "That code is not right, or no code is waiting for this phone."
    assert sms(p, NEW, f"verify {code}") == f"{NEW} is now registered to your account."
    assert ani_row(p, NEW)["verified"] is True
    assert p.run(accounts.find_account_by_ani, p.platform.db, number=NEW)["login"] == "alice"


def test_a_number_registered_by_sms_can_be_verified_in_the_portal(p, texts):
    sms(p, sc.STRANGER, f"U.alice P.alice-password R.{NEW}")
    alice = logged_in(p)
    alice.get("/settings")
    done = alice.submit("/settings/anis/verify", {"number": NEW, "code": code_in(texts)})
    assert "The number is now one of your caller IDs." in done.text
    assert ani_row(p, NEW)["verified"] is True


def test_the_senders_own_number_is_registered_at_once(p, texts):
    assert sms(p, NEW, f"U.alice P.alice-password R.{NEW}") == f"{NEW} is now registered to your account."
    assert texts == [] and ani_row(p, NEW)["verified"] is True


def test_an_unverified_claim_does_not_keep_the_number_from_its_owner(p, texts):
    sms(p, sc.STRANGER, f"U.bob P.bob-password R.{NEW}")  # bob names a number that is not his
    assert ani_row(p, NEW)["verified"] is False
    assert sms(p, NEW, f"U.alice P.alice-password R.{NEW}") == f"{NEW} is now registered to your account."
    row = ani_row(p, NEW)
    assert row["verified"] is True and row["account_id"] == p.scalar(
        sa.select(accounts_t.c.id).where(accounts_t.c.login == "alice"))
    # bob's code, typed back now, gives him nothing.
    assert sms(p, NEW, f"VERIFY {code_in(texts)}") == "That code is not right, or no code is waiting for this phone."


def test_sms_registration_goes_through_the_same_policy_and_caps(p, texts):
    assert sms(p, sc.STRANGER, f"U.alice P.alice-password R.{PREMIUM}") == \
        "That number cannot be registered. Send HELP for help."
    assert texts == [] and ani_row(p, PREMIUM) is None
    p.platform.settings = p.platform.settings.with_(verification_daily_limit=2)
    replies = [sms(p, sc.STRANGER, f"U.alice P.alice-password R.+1415555017{i}") for i in range(4)]
    assert len(texts) == 2
    assert replies[2:] == ["Too many requests. Please wait a few minutes and try again."] * 2
    with p.engine.connect() as c:
        unverified = c.execute(sa.select(anis.c.number).where(anis.c.verified == sa.false())).scalars().all()
    assert sorted(unverified) == ["+14155550170", "+14155550171"]


# Other texts to numbers a subscriber chooses ------------------------------------------------------


def test_a_failed_api_callback_texts_only_a_number_of_the_subscribers(p, texts):
    from app.data import callbacks
    from app.calls import notices

    alice_id = p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == "alice"))
    token = p.run(accounts.create_token, p.platform.db, account_id=alice_id, name="notices")
    headers = {"Authorization": f"Bearer {token}"}
    stranger = p.client.post("/api/v1/callbacks", json={"from": NEW, "to": "+12125550123"}, headers=headers)
    own = p.client.post("/api/v1/callbacks", json={"from": sc.ALICE_MOBILE, "to": "+12125550123"}, headers=headers)
    assert stranger.status_code == own.status_code == 201

    async def fail_and_notify():
        for created in (stranger, own):
            row = await callbacks.get_request(p.platform.db, request_id=created.json()["id"])
            await callbacks.transition(p.platform.db, row, states.FAILED, reason=states.A_NO_ANSWER)
        return await notices.send_outcome_notices(p.platform)

    assert p.run(fail_and_notify) == 1
    assert [to for to, _, _ in texts] == [sc.ALICE_MOBILE]


# Whose a number is never shows -----------------------------------------------------------------

FREE = "+14155550143"  # nobody's


def bobs(p: PlatformUnderTest, number: str) -> None:
    bob_id = p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == "bob"))
    p.run(accounts.add_ani, p.platform.db, account_id=bob_id, number=number)


def test_asking_a_code_for_another_accounts_caller_id_answers_as_a_sent_code_but_texts_nothing(p, texts):
    """Probing numbers in the portal: bob's caller ID gets the answer any number gets, no text goes
    to it, and the probe is counted (and charged) against the same daily caps."""
    bobs(p, NEW)
    set_alice(p, balance=100)
    p.platform.settings = p.platform.settings.with_(verification_text_price=2)
    alice = logged_in(p)
    alice.get("/settings")
    free, taken = (alice.submit("/settings/anis", {"number": n}) for n in (FREE, NEW))
    assert free.status_code == taken.status_code == 200
    assert "A code was texted to the number" in text_of(free) and "A code was texted to the number" in text_of(taken)
    assert "cannot be registered" not in text_of(taken)
    page = text_of(alice.get("/settings"))
    assert FREE in page and NEW in page  # both wait for a code alike
    assert [to for to, _, _ in texts] == [FREE]  # nothing is texted to bob's phone
    with p.engine.connect() as c:
        assert c.execute(sa.select(accounts_t.c.balance).where(accounts_t.c.login == "alice")).scalar() == 96
        assert c.execute(sa.select(sa.func.count()).select_from(verification_texts)).scalar() == 2
    # A wrong code reads the same for both; bob keeps his number.
    for number in (FREE, NEW):
        wrong = alice.submit("/settings/anis/verify", {"number": number, "code": "000000"})
        assert wrong.status_code == 422 and "Wrong code; 4 tries left." in text_of(wrong)
    assert ani_row(p, NEW)["account_id"] != ani_row(p, sc.ALICE_MOBILE)["account_id"]
    # Probes stop at the number's daily cap, as codes do.
    for _ in range(5):
        alice.submit("/settings/anis/remove", {"number": NEW})
        last = alice.submit("/settings/anis", {"number": NEW})
    assert last.status_code == 422 and "No more codes can be texted to that number today" in text_of(last)
    assert p.scalar(sa.select(sa.func.count()).select_from(verification_texts).where(
        verification_texts.c.number == NEW)) == p.platform.settings.verification_number_daily_limit


def test_a_policy_refusal_is_the_same_for_another_accounts_caller_id(p, texts):
    bobs(p, PREMIUM)
    alice = logged_in(p)
    alice.get("/settings")
    refused = alice.submit("/settings/anis", {"number": PREMIUM})
    assert refused.status_code == 422 and f"Codes cannot be texted to {PREMIUM}." in text_of(refused)
    assert "cannot be registered" not in text_of(refused) and texts == []


def test_sms_registration_of_another_accounts_caller_id_answers_as_a_sent_code(p, texts):
    bobs(p, NEW)
    assert sms(p, sc.STRANGER, f"U.alice P.alice-password R.{NEW}") == \
        sms(p, sc.STRANGER, f"U.alice P.alice-password R.{FREE}").replace(FREE, NEW)
    assert [to for to, _, _ in texts] == [FREE]
    assert ani_row(p, NEW)["verified"] is True and ani_row(p, FREE)["verified"] is False
    assert sms(p, sc.STRANGER, f"U.alice P.alice-password R.{PREMIUM}") == \
        "That number cannot be registered. Send HELP for help."


# A default number typed in the portal is not the subscriber's ------------------------------------------


def fail_all_and_notify(p: PlatformUnderTest) -> int:
    from app.data import callbacks
    from app.calls import notices

    async def run():
        for row in p.requests():
            row = await callbacks.get_request(p.platform.db, request_id=row["id"])
            await callbacks.transition(p.platform.db, row, states.FAILED, reason=states.A_NO_ANSWER)
        return await notices.send_outcome_notices(p.platform)

    return p.run(run)


def test_no_failure_notice_to_a_default_number_typed_in_the_portal(p, texts):
    """Alice sets a stranger's number as her default and has it called (Connect Two with the
    default, and the API without `from`): no failure notice is texted to it."""
    from tests.web.test_portal import connect_two

    alice = logged_in(p)
    alice.get("/settings")
    saved = alice.submit("/settings/profile", {"default_number": NEW, "language": "en"})
    assert "Your settings were saved." in saved.text
    assert connect_two(alice).status_code in (200, 303)
    alice_id = p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == "alice"))
    token = p.run(accounts.create_token, p.platform.db, account_id=alice_id, name="notices")
    api = p.client.post("/api/v1/callbacks", json={"to": "+12125550123"}, headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 201, api.text
    assert [r["leg_a_number"] for r in p.requests()] == [NEW, NEW]
    fail_all_and_notify(p)
    assert texts == []


def test_failure_notices_go_to_the_operators_default_number_and_a_verified_default(p, texts):
    alice = logged_in(p)
    assert connect_two_from_default(alice).status_code in (200, 303)  # sc.ALICE_HOME, set by the operator
    alice.get("/settings")
    alice.submit("/settings/profile", {"default_number": sc.ALICE_MOBILE, "language": "en"})  # a verified ANI
    assert connect_two_from_default(alice).status_code in (200, 303)
    fail_all_and_notify(p)
    assert sorted(to for to, _, _ in texts) == sorted([sc.ALICE_HOME, sc.ALICE_MOBILE])


def connect_two_from_default(visitor):
    from tests.web.test_portal import connect_two
    return connect_two(visitor)
