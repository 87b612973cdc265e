"""Call recording end to end: the platform on a real server, the sandbox carrier recording the dial.

An opted-in account's call is announced to both parties, recorded (<Dial record>), reported by the
carrier's signed recording callbacks, listed and played in the portal to its owner only, and deleted
at the carrier and here once past the retention period.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import wave

import httpx
import pytest
import sqlalchemy as sa

from app.calls import call_recordings
from app.core import states
from app.data.tables import accounts as accounts_t
from app.data.tables import call_recordings as recordings_t
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.live import live_platform

NY = "+12125550123"
ANNOUNCEMENT = "This call will be recorded."


@pytest.fixture
async def live(settings, engine):
    async with live_platform(settings, engine) as live:
        yield live


def recordings(live):
    with live.engine.connect() as c:
        return c.execute(sa.select(recordings_t).order_by(recordings_t.c.id)).mappings().all()


def opt_in(live, login: str) -> None:
    with live.engine.begin() as c:
        c.execute(accounts_t.update().where(accounts_t.c.login == login).values(record_calls=True))


async def portal(live, login: str, password: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=live.platform_url)
    page = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = await client.post("/login", data={"csrf": csrf, "login": login, "password": password})
    assert answer.status_code == 303
    return client


async def test_an_opted_in_call_is_announced_recorded_listed_played_and_deleted_after_retention(live):
    opt_in(live, "alice")
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    live.carrier.phones.set(NY, answer_after=1, talk_seconds=20)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED

    leg_a = live.calls_to(sc.ALICE_HOME)[-1]
    (leg_b,) = [live.carrier.calls[sid] for sid in leg_a.children]
    # Both parties are told: leg A before the dial, leg B (the whisper) before it is bridged.
    heard_a = [entry[0] if entry[0] != "say" else entry[1] for entry in leg_a.heard("say", "dial")]
    assert heard_a.index(ANNOUNCEMENT) < heard_a.index("dial")
    heard_b = leg_b.heard("say", "bridged")
    assert heard_b[0] == ("say", ANNOUNCEMENT, "en-US") and heard_b[1][0] == "bridged"
    whisper = [d for d in live.carrier.webhook_log if d.kind == "whisper"]
    assert len(whisper) == 1 and whisper[0].status_code == 200

    # The carrier recorded the parent call, both channels, and posted signed callbacks the app took.
    (made,) = live.carrier.recordings.values()
    assert made.call_sid == leg_a.sid and made.channels == 2 and made.status == "completed"
    posted = [d for d in live.carrier.webhook_log if d.kind == "recording-status"]
    assert [d.params["RecordingStatus"] for d in posted] == ["in-progress", "completed"]
    assert all(d.status_code == 204 for d in posted)
    (stored,) = recordings(live)
    assert (stored["sid"], stored["request_id"], stored["call_sid"]) == (made.sid, row["id"], leg_a.sid)
    assert stored["status"] == "completed" and stored["channels"] == 2 and stored["destination"] == NY
    assert 18 <= stored["duration"] <= 40 and stored["duration"] == made.duration  # leg B talks for 20 s

    # The provider's retry of the same callback leaves one row (idempotent on RecordingSid).
    last = posted[-1]
    async with httpx.AsyncClient() as client:
        again = await client.post(last.url, data=last.params,
                                  headers={"X-Twilio-Signature": tw.sign(last.url, last.params)})
    assert again.status_code == 204 and len(recordings(live)) == 1

    alice = await portal(live, "alice", "alice-password")
    bob = await portal(live, "bob", "bob-password")
    try:
        listing = await alice.get("/recordings")
        assert listing.status_code == 200 and f'/recordings/{stored["id"]}.mp3' in listing.text and NY in listing.text
        call_page = await alice.get(f"/calls/{row['id']}")
        assert f'/recordings/{stored["id"]}.mp3' in call_page.text  # the call's own page shows it too
        mp3 = await alice.get(f"/recordings/{stored['id']}.mp3")
        assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg" and mp3.content[:2] == b"\xff\xfb"
        wav = await alice.get(f"/recordings/{stored['id']}.wav")
        assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(wav.content)) as audio:
            assert audio.getnchannels() == 2 and audio.getnframes() > 0
        for answer in (listing, call_page, mp3, wav):
            assert tw.AUTH_TOKEN not in answer.text and made.sid not in answer.text  # nothing of the provider's
        # Another account: not listed, not played (the same 404 as a recording that does not exist).
        assert f'/recordings/{stored["id"]}' not in (await bob.get("/recordings")).text
        for path in (f"/recordings/{stored['id']}.mp3", f"/recordings/{stored['id']}.wav",
                     f"/recordings/{stored['id'] + 1000}.mp3", f"/recordings/{stored['id']}.json",
                     f"/recordings/{stored['id']}.ogg"):
            refused = await bob.get(path)
            assert refused.status_code == 404 and not refused.headers["content-type"].startswith("audio/"), path
        assert (await httpx.AsyncClient(base_url=live.platform_url).get(
            f"/recordings/{stored['id']}.mp3")).status_code == 303  # signed out: to the login page

        # Retention: not yet due, nothing deleted; past it, deleted at the carrier and here.
        p = live.app.state.platform
        assert await call_recordings.purge_expired(p) == 0 and made.sid in live.carrier.recordings
        later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=p.settings.recording_retention_days,
                                                                            minutes=1)
        assert await call_recordings.purge_expired(p, later) == 1
        assert made.sid not in live.carrier.recordings and recordings(live) == []
        resource = await alice.get(
            f"{p.credentials.api_base}/2010-04-01/Accounts/{tw.ACCOUNT_SID}/Recordings/{made.sid}.json",
            auth=(tw.ACCOUNT_SID, tw.AUTH_TOKEN))
        assert resource.status_code == 404 and resource.json()["code"] == 20404
        assert (await alice.get(f"/recordings/{stored['id']}.mp3")).status_code == 404
    finally:
        await alice.aclose()
        await bob.aclose()


async def test_an_account_that_did_not_opt_in_is_not_recorded(live):
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED
    leg_a = live.calls_to(sc.ALICE_HOME)[-1]
    (leg_b,) = [live.carrier.calls[sid] for sid in leg_a.children]
    assert ANNOUNCEMENT not in [e[1] for e in leg_a.heard("say") + leg_b.heard("say")]
    assert live.carrier.recordings == {} and recordings(live) == []
    assert not [d for d in live.carrier.webhook_log if d.kind in ("whisper", "recording-status")]


async def test_recording_callbacks_must_be_signed_and_of_the_requests_own_leg(live):
    opt_in(live, "alice")
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    leg_a = live.calls_to(sc.ALICE_HOME)[-1]
    url = f"{live.platform_url}/twilio/recording?request={row['id']}"
    forged = {"AccountSid": tw.ACCOUNT_SID, "CallSid": leg_a.sid, "RecordingSid": "RE" + "f" * 32,
              "RecordingStatus": "completed", "RecordingDuration": "99", "RecordingChannels": "2",
              "RecordingUrl": "https://attacker.example/steal"}
    client = httpx.AsyncClient()
    unsigned = await client.post(url, data=forged)
    wrong = await client.post(url, data=forged,
                              headers={"X-Twilio-Signature": tw.sign(url, forged, token="not-the-token")})
    # Signed for another request's URL: the signature covers the query, so it does not carry over.
    moved = await client.post(url + "0", data=forged, headers={"X-Twilio-Signature": tw.sign(url, forged)})
    assert (unsigned.status_code, wrong.status_code, moved.status_code) == (403, 403, 403)
    # Signed, but a recording of a call that is not this request's callback leg: not stored.
    other_leg = forged | {"CallSid": tw.call_sid()}
    taken = await client.post(url, data=other_leg, headers={"X-Twilio-Signature": tw.sign(url, other_leg)})
    # Signed, with an id that is not a provider id (it would go into a provider URL): not stored either.
    odd = forged | {"RecordingSid": "../../Calls/x"}
    weird = await client.post(url, data=odd, headers={"X-Twilio-Signature": tw.sign(url, odd)})
    await client.aclose()
    assert (taken.status_code, weird.status_code) == (204, 204)
    assert [r["sid"] for r in recordings(live)] == [r.sid for r in live.carrier.recordings.values()]
