"""Alarms end to end on the sandbox (the platform speaks to it as to Twilio, its provider): failing calls
drive ASR down and a run of failures up; the alarms are raised (admin page, /metrics, signed operator
webhook events) and clear once calls are answered."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re

import httpx
import pytest

from app.calls import alarms
from app.data import operators
from app.data.tables import accounts
from tests.utils import receiver as rx
from tests.utils import scenario as sc
from tests.utils.live import live_platform

SECRET = "whsec-alarms"


async def admin_page(live, path: str) -> str:
    async with httpx.AsyncClient(base_url=live.platform_url) as browser:
        login = await browser.get("/admin/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
        signed_in = await browser.post("/admin/login", data={"csrf": csrf, "login": "root",
                                                             "password": "operator-password"})
        assert signed_in.status_code == 303, signed_in.text
        page = await browser.get(path)
        assert page.status_code == 200
        return page.text


def events(receiver) -> list[dict]:
    found = []
    for body, headers in receiver.taken():
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-callback-signature"], expected)
        found.append(json.loads(body))
    return found


async def calls(live, count: int) -> None:
    for _ in range(count):
        await live.finished((await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)).sid, timeout=30)


@pytest.fixture
def receiver():
    with rx.receiving() as receiver:
        yield receiver


async def test_failing_calls_raise_asr_and_failed_run_alarms_which_clear(settings, engine, receiver):
    watched = settings.with_(alarm_check_seconds=0, alarm_min_calls=4, alarm_asr_below_percent=50, alarm_failed_run=4,
                             alarm_acd_below_seconds=0, alarm_spend_factor=0,
                             operator_webhook_url=receiver.url, operator_webhook_secret=SECRET)
    async with live_platform(watched, engine) as live:
        p = live.app.state.platform
        await operators.create_operator(live.db, login="root", password="operator-password")
        await live.db.execute(accounts.update().values(retry_attempts=0))
        live.carrier.phones.set(sc.ALICE_HOME, answer="busy")
        await calls(live, 3)
        assert await alarms.check(p) == ([], [])  # three calls: too few to judge ASR, too short a run
        await calls(live, 1)
        raised, cleared = await alarms.check(p)
        expected = {("asr", "provider:twilio"), ("asr", "prefix:1"), ("failed_run", "provider:twilio")}
        assert {(r.kind, r.subject) for r in raised} == expected and cleared == []
        assert await alarms.check(p) == ([], [])  # raised once, not at every check
        page = await admin_page(live, "/admin/alarms")
        assert "provider:twilio" in page and "0% of 4" in page and "4 failed" in page
        scraped = (await httpx.AsyncClient().get(live.platform_url + "/metrics")).text
        assert 'callback_alarms{kind="asr",subject="provider:twilio"} 1.0' in scraped
        await asyncio.to_thread(receiver.wait_for, 3)  # the app's loop (this one) delivers meanwhile
        assert {(e["type"], e["alarm"]["kind"], e["alarm"]["subject"]) for e in events(receiver)} == {
            ("alarm.raised", kind, subject) for kind, subject in expected}
        assert all(e["account"] is None for e in events(receiver))

        # Calls are answered again: 4 of 8 is not below 50%, and the run is broken.
        live.carrier.phones.set(sc.ALICE_HOME, answer="answer", hangup_after=2.0)
        await calls(live, 4)
        raised, cleared = await alarms.check(p)
        assert raised == [] and {(r.kind, r.subject) for r in cleared} == expected
        page = await admin_page(live, "/admin/alarms")
        assert "No alarm is raised." in page and "50% of 8" in page
        scraped = (await httpx.AsyncClient().get(live.platform_url + "/metrics")).text
        assert "callback_alarms{" not in scraped
        await asyncio.to_thread(receiver.wait_for, 6)
        assert sorted(e["type"] for e in events(receiver)) == ["alarm.cleared"] * 3 + ["alarm.raised"] * 3
