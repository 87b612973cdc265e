"""Call recording in the engine: the TwiML that asks for it, the callbacks that store it (idempotent,
in parallel too), and the retention pass's decisions when the provider fails."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from app.calls import call_recordings
from app.core import states
from app.data.db import utcnow
from app.data.tables import accounts
from app.data.tables import call_recordings as recordings_t
from app.providers.events import RecordingStatus
from app.providers.interface import ProviderError
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest
from tests.utils.provider import TwilioRecorder


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        with engine.begin() as c:
            c.execute(accounts.update().where(accounts.c.login == "alice").values(record_calls=True, language="es"))
        recorder = TwilioRecorder()
        with recorder.cassette("calls_create.yaml"):
            yield platform


def dialled(p) -> tuple[sc.Session, list]:
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    assert p.dispatch() == 1
    s.step("answer")
    return s, s.step("destination", Digits="2125550123")



def test_a_recorded_dial_is_announced_and_asks_for_a_dual_recording(p):
    s, verbs = dialled(p)
    assert s.row["state"] == states.CALLING_B
    assert verbs[0].name == "Say" and verbs[0].text == "Esta llamada será grabada."  # leg A, in its language
    dial = next(v for v in verbs if v.name == "Dial")
    assert dial.attrs["record"] == "record-from-answer-dual"
    assert dial.attrs["recordingStatusCallback"] == f"http://testserver/twilio/recording?request={s.request_id}"
    assert dial.attrs["recordingStatusCallbackEvent"] == "in-progress completed absent"
    assert dial.attrs["recordingStatusCallbackMethod"] == "POST"
    number = dial.find("Number")
    assert number.attrs["url"] == f"http://testserver/legs/{s.request_id}/whisper" and number.attrs["method"] == "POST"
    # The whisper, fetched for leg B: the announcement alone, so leg B is then bridged (no Hangup).
    leg_b = tw.voice_params(From=sc.ANI_NUMBER, To="+12125550123", CallStatus="in-progress",
                            Direction="outbound-dial", ParentCallSid=s.row["leg_a_sid"])
    whisper = p.twiml(f"/legs/{s.request_id}/whisper", leg_b)
    assert [(v.name, v.text) for v in whisper] == [("Say", "Esta llamada será grabada.")]


def test_recording_callbacks_are_idempotent_in_parallel_and_never_go_back(p):
    s, _ = dialled(p)
    sid = "RE" + "a" * 32
    event = RecordingStatus(recording_id=sid, call_id=s.row["leg_a_sid"], status="completed", duration=42, channels=2,
                            url="https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/" + sid)

    async def retries():
        # The provider's retries racing each other: one row, whatever the order.
        return await asyncio.gather(*(call_recordings.status_reported(p.platform, request_id=s.request_id, event=e)
                                      for e in [event] * 6 + [RecordingStatus(sid, event.call_id, "in-progress")] * 2))

    assert all(p.run(retries))
    with p.engine.connect() as c:
        rows = c.execute(sa.select(recordings_t)).mappings().all()
    assert len(rows) == 1 and (rows[0]["status"], rows[0]["duration"], rows[0]["channels"]) == ("completed", 42, 2)
    # Another request cannot take the recording over, even signed (the row stays its first request's).
    other, _ = dialled(p)
    moved = RecordingStatus(recording_id=sid, call_id=other.row["leg_a_sid"], status="absent")
    p.run(call_recordings.status_reported, p.platform, request_id=other.request_id, event=moved)
    with p.engine.connect() as c:
        row = c.execute(sa.select(recordings_t)).mappings().one()
    assert (row["request_id"], row["status"]) == (s.request_id, "completed")
    # A status outside Twilio's vocabulary, or an id that is not one, is not stored.
    for bad in (RecordingStatus(sid, event.call_id, "deleted-by-attacker"),
                RecordingStatus("", event.call_id, "completed"), RecordingStatus("RE/../x", event.call_id, "completed")):
        assert p.run(call_recordings.status_reported, p.platform, request_id=s.request_id, event=bad) is False


def test_retention_keeps_what_the_provider_did_not_delete(p, monkeypatch):
    s, _ = dialled(p)
    for n in range(3):
        event = RecordingStatus(recording_id=f"RE{n:032d}", call_id=s.row["leg_a_sid"], status="completed", duration=5)
        p.run(call_recordings.status_reported, p.platform, request_id=s.request_id, event=event)
    outcomes = {"RE" + "0" * 32: None,
                "RE" + "0" * 31 + "1": ProviderError("gone", code=20404, status=404, retryable=False, not_found=True),
                "RE" + "0" * 31 + "2": ProviderError("down", status=503, retryable=True)}
    asked = []

    async def delete_recording(sid):
        asked.append(sid)
        if outcomes[sid] is not None:
            raise outcomes[sid]

    monkeypatch.setattr(p.platform.provider, "delete_recording", delete_recording)
    days = p.platform.settings.recording_retention_days
    almost = utcnow() + dt.timedelta(days=days) - dt.timedelta(hours=1)
    assert p.run(call_recordings.purge_expired, p.platform, almost) == 0
    assert asked == []  # none past the period yet
    assert p.run(call_recordings.purge_expired, p.platform, utcnow() + dt.timedelta(days=days, hours=1)) == 2
    assert sorted(asked) == sorted(outcomes)
    with p.engine.connect() as c:
        left = c.execute(sa.select(recordings_t.c.sid)).scalars().all()
    assert left == ["RE" + "0" * 31 + "2"]  # the provider was down: tried again on the next pass


def test_a_recording_is_fetched_and_deleted_through_the_provider_that_placed_its_call(p, monkeypatch):
    """With several providers (PROVIDERS), a recording is at the provider of its request's leg A."""
    from types import SimpleNamespace

    from app.data.tables import callback_requests

    s, _ = dialled(p)
    event = RecordingStatus(recording_id="RE" + "7" * 32, call_id=s.row["leg_a_sid"], status="completed", duration=5)
    p.run(call_recordings.status_reported, p.platform, request_id=s.request_id, event=event)
    asked = []

    async def delete_recording(sid):
        asked.append(("second", sid))

    async def not_this_one(sid):
        raise AssertionError("asked the first provider about the second one's recording")

    async def aclose():
        pass

    second = SimpleNamespace(delete_recording=delete_recording, aclose=aclose)
    monkeypatch.setitem(p.platform.providers, "second", second)
    monkeypatch.setattr(p.platform.provider, "delete_recording", not_this_one)
    with p.engine.begin() as c:
        c.execute(callback_requests.update().where(callback_requests.c.id == s.request_id).values(provider="second"))
    later = utcnow() + dt.timedelta(days=p.platform.settings.recording_retention_days, hours=1)
    assert p.run(call_recordings.purge_expired, p.platform, later) == 1
    assert asked == [("second", "RE" + "7" * 32)]
