"""Attacks on web sign-in, PINs and lockouts, performed over HTTP, and the refusals they meet.

- a portal PIN change cannot be used to find another account's PIN;
- multipart bodies cannot stall the event loop before a login is checked, nor an upload while it is parsed;
- concurrent wrong passwords are checked at most the lockout's limit, and never on the event loop;
- wrong passwords from one address cannot lock the owner out of texts, calls, or logins from elsewhere;
- rapid wrong passwords from one address meet a growing backoff, refused unchecked, other addresses unaffected;
- a cookie copied before logging out opens nothing afterwards.
"""

from __future__ import annotations

import asyncio
import re
import threading

import httpx
import pytest
import sqlalchemy as sa

from app.data import accounts
from app.fraud import lockouts
from app.core import security
from app.data.tables import accounts as accounts_t
from app.data.tables import auth_failures
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest
from tests.utils.provider import TwilioRecorder
from tests.utils.web import OPERATOR, OPERATOR_PASSWORD, Browser, web_platform

ATTACKER, OWNER = ("203.0.113.7", 40000), ("198.51.100.20", 40001)


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine) as platform:
        yield platform


def account_by_pin(p: PlatformUnderTest, pin: str):
    return p.run(accounts.find_account_by_pin, p.platform.db, secret_key=p.platform.secret_key, pin=pin)


# 1. The PIN-in-use oracle -----------------------------------------------------------------------


def test_a_portal_pin_change_cannot_take_or_reveal_another_accounts_pin(p):
    alice = Browser(p)
    assert alice.log_in("alice", "alice-password", follow=False).status_code == 303
    alice.get("/settings")
    answers = []
    for guess in (sc.BOB_PIN, "918273"):  # bob's PIN, then one nobody has: the answers must not differ
        response = alice.submit("/settings/pin", {"pin": guess, "pin_again": guess,
                                                  "current_password": "alice-password"})
        assert response.status_code == 200
        assert "in use" not in response.text.lower() and "choose another" not in response.text.lower()
        answers.append(re.search(r'id="new-pin">(\d+)<', response.text).group(1))
    assert account_by_pin(p, sc.BOB_PIN)["login"] == "bob"  # bob keeps his PIN
    assert sc.BOB_PIN not in answers and "918273" not in answers
    assert account_by_pin(p, answers[-1])["login"] == "alice" and account_by_pin(p, answers[0]) is None
    assert len(answers[-1]) >= security.DEFAULT_MIN_PIN_LENGTH
    with p.engine.connect() as c:
        hashes = [row[0] for row in c.execute(sa.select(accounts_t.c.pin_hash))]
    assert len(hashes) == len(set(hashes))  # the new PIN is no other account's


# 2. Multipart bodies ---------------------------------------------------------------------------------


def many_parts(count: int, boundary: str = "zzBOUNDARYzz") -> bytes:
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\nyy\r\n'.encode()
    return part * count + f"--{boundary}--\r\n".encode()


class CountedBody:
    """A request body sent in chunks, counting how many the app asked for."""

    def __init__(self, body: bytes, size: int = 16 * 1024):
        self.chunks = [body[i:i + size] for i in range(0, len(body), size)]
        self.read = 0

    async def __aiter__(self):
        for chunk in self.chunks:
            self.read += 1
            yield chunk


def asgi_client(p: PlatformUnderTest, client=ATTACKER, cookies=None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app, client=client), base_url="http://testserver",
                             cookies=cookies)


@pytest.mark.parametrize("path", ["/login", "/admin/login"])
def test_a_40000_part_multipart_login_is_refused_before_it_is_parsed(p, path):
    body = CountedBody(many_parts(40_000))

    async def post():
        async with asgi_client(p) as client:
            return await client.post(path, content=body, headers={
                "content-type": "multipart/form-data; boundary=zzBOUNDARYzz"})

    response = p.run(post)
    assert response.status_code == 415 and "Form refused" in response.text
    assert body.read == 0 and len(body.chunks) > 100
    with p.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(auth_failures)).scalar() == 0


@pytest.mark.parametrize("path", ["/admin/rates/import", "/admin/prompts"])
def test_an_upload_with_thousands_of_parts_stops_at_the_first_part_too_many(p, path):
    admin = Browser(p)
    assert admin.log_in(OPERATOR, OPERATOR_PASSWORD, page="/admin/login", follow=False).status_code == 303
    admin.get("/admin/rates")
    csrf = admin.csrf
    head = (f'--zzBOUNDARYzz\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n').encode()
    body = CountedBody(head + many_parts(20_000), size=4096)

    async def post():
        async with asgi_client(p, cookies=admin.cookies) as client:
            return await client.post(path, content=body, headers={
                "content-type": "multipart/form-data; boundary=zzBOUNDARYzz"})

    response = p.run(post)
    assert response.status_code == 400 and "too many fields" in response.text
    assert body.read <= 2 < len(body.chunks)


# 3. Concurrent guesses, and argon2 off the event loop -----------------------------------------------


@pytest.mark.parametrize("path, login", [("/login", "alice"), ("/admin/login", OPERATOR)])
def test_fifty_concurrent_wrong_passwords_are_checked_at_most_the_limit(p, monkeypatch, path, login):
    checked, loop_threads = [], set()
    real = security.verify_password

    def counting(password_hash, password):
        checked.append(threading.current_thread().name)
        return real(password_hash, password)

    monkeypatch.setattr(security, "verify_password", counting)

    async def attack():
        loop_threads.add(threading.current_thread().name)
        async with asgi_client(p) as client:
            page = await client.get(path)
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            return await asyncio.gather(*(
                client.post(path, data={"csrf": csrf, "login": login, "password": f"guess-{n}"}) for n in range(50)))

    responses = p.run(attack)
    statuses = [response.status_code for response in responses]
    assert len(checked) <= lockouts.MAX_FAILURES, len(checked)
    assert statuses.count(401) == len(checked) and statuses.count(429) == 50 - len(checked)
    assert all("Too many failed attempts" in r.text for r in responses if r.status_code == 429)
    assert not loop_threads & set(checked) and all(name.startswith("passwords") for name in checked)


# 4. Lockouts per source -------------------------------------------------------------------------------


def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out(p, lockout_clock):
    async def guesses():
        async with asgi_client(p, client=ATTACKER) as client:
            page = await client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            wrong = []
            for n in range(lockouts.MAX_FAILURES + 2):
                lockout_clock.wait_out_backoff()  # a patient attacker: every guess up to the lock is checked
                wrong.append((await client.post("/login", data={"csrf": csrf, "login": "alice",
                                                                "password": f"guess-{n}"})).status_code)
            right = await client.post("/login", data={"csrf": csrf, "login": "alice", "password": "alice-password"})
            return wrong, right.status_code

    wrong, right = p.run(guesses)
    assert wrong == [401] * lockouts.MAX_FAILURES + [429, 429] and right == 429  # the attacker's address is throttled

    # The owner's texts, by caller ID, by PIN, and by login and password, still work.
    def text(sender: str, body: str) -> str:
        response = p.post("/twilio/sms", tw.sms_params(From=sender, To=sc.PIN_NUMBER, Body=body))
        assert response.status_code == 200
        (reply,) = tw.parse_messages(response.text)
        return reply

    assert text(sc.ALICE_MOBILE, "BAL") == "Your balance is 10.00 USD."
    assert text(sc.ALICE_HOME, f"PIN {sc.ALICE_PIN} BAL") == "Your balance is 10.00 USD."
    assert text(sc.ALICE_HOME, "U.alice P.alice-password BAL") == "Your balance is 10.00 USD."

    # And the owner's login from another address.
    async def owner_logs_in():
        async with asgi_client(p, client=OWNER) as client:
            page = await client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            response = await client.post("/login", data={"csrf": csrf, "login": "alice", "password": "alice-password"})
            return response.status_code, (await client.get("/")).status_code

    assert p.run(owner_logs_in) == (303, 200)


def test_wrong_passwords_from_one_address_do_not_stop_the_owners_voice_pin(p, lockout_clock):
    async def guesses():
        async with asgi_client(p, client=ATTACKER) as client:
            page = await client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            for n in range(lockouts.MAX_FAILURES + 2):
                lockout_clock.wait_out_backoff()
                await client.post("/login", data={"csrf": csrf, "login": "alice", "password": f"guess-{n}"})

    p.run(guesses)
    recorder = TwilioRecorder()
    with recorder.cassette("calls_create.yaml"):
        s = sc.Session(p, caller=sc.ALICE_HOME, service_number=sc.PIN_NUMBER)
        s.trigger()
        assert p.dispatch() == 1
        s.step("answer")
        verbs = s.step("pin", Digits=sc.ALICE_PIN)
    assert verbs[0].name == "Gather" and verbs[0].attrs["action"].endswith("/destination")


def test_wrong_operator_passwords_from_one_address_do_not_lock_the_operator_out(p, lockout_clock):
    async def sign_in(client_address, password: str, times: int = 1) -> list[int]:
        async with asgi_client(p, client=client_address) as client:
            page = await client.get("/admin/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            statuses = []
            for _ in range(times):
                lockout_clock.wait_out_backoff()
                statuses.append((await client.post("/admin/login", data={
                    "csrf": csrf, "login": OPERATOR, "password": password})).status_code)
            return statuses

    wrong = p.run(sign_in, ATTACKER, "guess", lockouts.MAX_FAILURES + 2)
    assert wrong == [401] * lockouts.MAX_FAILURES + [429, 429]
    assert p.run(sign_in, ATTACKER, OPERATOR_PASSWORD) == [429]
    assert p.run(sign_in, OWNER, OPERATOR_PASSWORD) == [303]


def test_many_sources_together_still_meet_the_account_wide_limit(p):
    alice = p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == "alice"))
    for n in range(lockouts.ACCOUNT_MAX_FAILURES):
        p.run(lockouts.record_failure, p.platform.db, account_id=alice, requester=f"web:10.0.{n // 250}.{n % 250}",
              channel="web")

    async def owner_logs_in():
        async with asgi_client(p, client=OWNER) as client:
            page = await client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            return (await client.post("/login", data={"csrf": csrf, "login": "alice",
                                                      "password": "alice-password"})).status_code

    assert p.run(owner_logs_in) == 429
    # The web's count is the web's: the owner's texts still work.
    response = p.post("/twilio/sms", tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER, Body="BAL"))
    assert tw.parse_messages(response.text) == ["Your balance is 10.00 USD."]


# 4b. Backoff per source --------------------------------------------------------------------------------


@pytest.mark.parametrize("path, login, password", [("/login", "alice", "alice-password"),
                                                   ("/admin/login", OPERATOR, OPERATOR_PASSWORD)])
def test_rapid_wrong_passwords_from_one_address_meet_a_growing_backoff(p, monkeypatch, lockout_clock,
                                                                        path, login, password):
    checked = []
    real = security.verify_password

    def counting(password_hash, given):
        checked.append(given)
        return real(password_hash, given)

    monkeypatch.setattr(security, "verify_password", counting)

    async def sign_in(client_address, given: str) -> int:
        async with asgi_client(p, client=client_address) as client:
            page = await client.get(path)
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            response = await client.post(path, data={"csrf": csrf, "login": login, "password": given})
            assert response.status_code != 429 or "Too many failed attempts" in response.text
            return response.status_code

    def failures() -> int:
        with p.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(auth_failures)).scalar()

    # The clock stands still: these come as fast as the attacker can send them.
    assert [p.run(sign_in, ATTACKER, f"guess-{n}") for n in range(lockouts.BACKOFF_AFTER)] == \
        [401] * lockouts.BACKOFF_AFTER
    counted = failures()
    assert p.run(sign_in, ATTACKER, "guess-early") == 429
    assert p.run(sign_in, ATTACKER, password) == 429  # even the right password is not checked during the wait
    assert len(checked) == lockouts.BACKOFF_AFTER and failures() == counted  # refused unchecked, and not counted
    # Another address is unaffected, its wrong password checked and its right one accepted.
    assert p.run(sign_in, OWNER, "owner-typo") == 401 and p.run(sign_in, OWNER, password) == 303
    # Once the wait has passed the next attempt is checked; each further failure doubles the wait.
    lockout_clock.advance(lockouts.BACKOFF_FIRST)
    assert p.run(sign_in, ATTACKER, "guess-late") == 401
    lockout_clock.advance(lockouts.BACKOFF_FIRST)
    assert p.run(sign_in, ATTACKER, password) == 429  # two waits now, only one has passed
    lockout_clock.advance(lockouts.BACKOFF_FIRST)
    assert p.run(sign_in, ATTACKER, password) == 303
    assert checked.count(password) == 2 and "guess-early" not in checked


# 5. Logging out revokes the cookie ---------------------------------------------------------------------


@pytest.mark.parametrize("login_path, login, password, page, logout", [
    ("/login", "alice", "alice-password", "/settings", "/logout"),
    ("/admin/login", OPERATOR, OPERATOR_PASSWORD, "/admin/accounts", "/admin/logout"),
])
def test_a_cookie_copied_before_logging_out_opens_nothing_after(p, login_path, login, password, page, logout):
    browser = Browser(p)
    assert browser.log_in(login, password, page=login_path, follow=False).status_code == 303
    assert browser.get(page).status_code == 200
    copied = httpx.Cookies(browser.cookies)
    assert browser.submit(logout, {}, follow=False).status_code == 303
    thief = Browser(p)
    thief.cookies = copied
    replayed = thief.request("GET", page)
    assert replayed.status_code == 303 and "login" in replayed.headers["location"]
