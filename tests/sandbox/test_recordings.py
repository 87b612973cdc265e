"""<Dial record> in the carrier: Recording resources, recording status callbacks, media and delete.

The Recording resource is checked against Twilio's OpenAPI description of it
(tests/sandbox/twilio_recordings.json: the fetch and delete operations, taken from
twilio/twilio-oai, since the shared Calls/Messages subset does not cover Recordings).
"""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import httpx
import pytest

from sandbox import Phone
from tests.sandbox.support import ACCOUNT_SID, AUTH_TOKEN, CALLEE, SUBSCRIBER, Spec

RECORDING = "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json"
RECORDINGS_SPEC = Spec(json.loads((Path(__file__).parent / "twilio_recordings.json").read_text()))
SCHEMA = "api.v2010.account.recording"


def dial(record: str | None, events: str | None = "in-progress completed absent") -> str:
    attributes = ' action="/dialed"'
    if record is not None:
        attributes += f' record="{record}" recordingStatusCallback="/rec"'
    if events is not None:
        attributes += f' recordingStatusCallbackEvent="{events}"'
    return f"<Response><Dial{attributes}><Number>{CALLEE}</Number></Dial></Response>"


@pytest.fixture
async def api(sandbox_url):
    async with httpx.AsyncClient(base_url=sandbox_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as client:
        yield client


async def call_with(carrier, platform, place, twiml: str) -> str:
    carrier.phones[SUBSCRIBER] = Phone(answer_after=1)
    carrier.phones[CALLEE] = Phone(answer_after=2, talk_seconds=7)
    platform.on("/voice", twiml)
    platform.on("/dialed", "<Response><Hangup/></Response>")
    platform.on("/rec", "")
    sid = await place(To=SUBSCRIBER, Url=platform.url("/voice"))
    await carrier.wait_idle(timeout=10)
    return sid


async def test_a_dual_recording_is_reported_fetched_played_and_deleted(carrier, platform, place, api, rest_root):
    parent = await call_with(carrier, platform, place, dial("record-from-answer-dual"))
    (recording,) = carrier.recordings.values()
    in_progress, completed = platform.received("/rec")  # signed: the platform fixture checks every signature
    url = f"{carrier.public_url}{rest_root}/Recordings/{recording.sid}"
    for params, status in ((in_progress, "in-progress"), (completed, "completed")):
        assert params["RecordingSid"] == recording.sid and params["CallSid"] == parent
        assert params["AccountSid"] == ACCOUNT_SID and params["RecordingUrl"] == url
        assert params["RecordingStatus"] == status and params["RecordingChannels"] == "2"
        assert params["RecordingSource"] == "DialVerb" and params["RecordingStartTime"].endswith("+0000")
    assert "RecordingDuration" not in in_progress
    # leg B talks for 7 virtual seconds; a loaded machine may stretch virtual time, never shrink it
    assert 6 <= int(completed["RecordingDuration"]) == recording.duration <= 30 and completed["ErrorCode"] == "0"
    assert ("recording", recording.sid) in carrier.calls[parent].heard("recording")

    fetched = await api.get(f"{rest_root}/Recordings/{recording.sid}.json")
    assert fetched.status_code == 200
    RECORDINGS_SPEC.validator(
        "/paths/" + RECORDING.replace("/", "~1") + "/get/responses/200/content/application~1json/schema"
    ).validate(fetched.json())
    RECORDINGS_SPEC.resource(fetched.json(), SCHEMA)
    body = fetched.json()
    assert (body["sid"], body["call_sid"], body["status"], body["channels"], body["source"]) == \
        (recording.sid, parent, "completed", 2, "DialVerb")
    assert body["duration"] == completed["RecordingDuration"]
    assert body["uri"] == f"{rest_root}/Recordings/{recording.sid}.json"

    wav = await api.get(f"{rest_root}/Recordings/{recording.sid}.wav")
    assert wav.status_code == 200 and wav.headers["content-type"].startswith("audio/")
    with wave.open(io.BytesIO(wav.content)) as audio:
        assert audio.getnchannels() == 2 and audio.getframerate() == 8000 and audio.getnframes() > 0
    plain = await api.get(f"{rest_root}/Recordings/{recording.sid}")  # no extension: WAV, as Twilio serves it
    assert plain.status_code == 200 and plain.content == wav.content
    mp3 = await api.get(f"{rest_root}/Recordings/{recording.sid}.mp3")
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg" and mp3.content[:3] == b"\xff\xfb\x18"
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        assert (await anonymous.get(f"{rest_root}/Recordings/{recording.sid}.mp3")).status_code == 401
    listed = await api.get(f"{rest_root}/Recordings.json", params={"CallSid": parent})
    assert [r["sid"] for r in listed.json()["recordings"]] == [recording.sid]

    deleted = await api.delete(f"{rest_root}/Recordings/{recording.sid}.json")
    assert deleted.status_code == 204 and deleted.content == b""
    for path in (".json", ".mp3", ".wav"):
        gone = await api.get(f"{rest_root}/Recordings/{recording.sid}{path}")
        assert gone.status_code == 404 and gone.json()["code"] == 20404
    assert (await api.delete(f"{rest_root}/Recordings/{recording.sid}.json")).status_code == 404


async def test_what_is_recorded_follows_the_record_attribute(carrier, platform, place):
    await call_with(carrier, platform, place, dial(None))
    assert carrier.recordings == {} and platform.received("/rec") == []
    # Twilio's default events: `completed` alone; mono unless "-dual".
    await call_with(carrier, platform, place, dial("record-from-answer", events=None))
    (recording,) = carrier.recordings.values()
    (report,) = platform.received("/rec")
    assert report["RecordingStatus"] == "completed" and report["RecordingChannels"] == "1"
    assert recording.channels == 1


async def test_an_unanswered_dial_makes_no_recording_from_answer(carrier, platform, place):
    carrier.phones[CALLEE] = Phone(answer="busy")
    platform.on("/voice", dial("record-from-answer-dual"))
    platform.on("/dialed", "<Response><Hangup/></Response>")
    platform.on("/rec", "")
    carrier.phones[SUBSCRIBER] = Phone(answer_after=1)
    await place(To=SUBSCRIBER, Url=platform.url("/voice"))
    await carrier.wait_idle(timeout=10)
    assert carrier.recordings == {} and platform.received("/rec") == []
