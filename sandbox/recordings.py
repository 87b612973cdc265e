"""Call recordings as Twilio makes them for `<Dial record>`: the Recording resource, its status
callback parameters, and its media.

A `<Dial record="record-from-answer[-dual]">` (or `record-from-ringing[-dual]`) records the parent
call (the one whose TwiML dialled) from leg B's answer (or from the dial); "-dual" puts each party
on its own channel. The recording is `in-progress` while the dial lasts and `completed` when it
ends, and each step is posted to `recordingStatusCallback` for the events asked for
(`recordingStatusCallbackEvent`, default `completed`). The media is a short generated file, WAV
(a tone per channel) or MP3 (silent frames): enough for a player and a download, not a real call.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from datetime import datetime

from .clock import rfc2822

API_VERSION = "2010-04-01"
RECORD_MODES = frozenset({"record-from-answer", "record-from-ringing", "record-from-answer-dual",
                          "record-from-ringing-dual", "true"})
EVENTS = frozenset({"in-progress", "completed", "absent"})
MEDIA_SECONDS = 2  # how much audio the generated files hold, whatever the call's length
WAV_RATE = 8000
# MPEG-1 Layer III, 32 kbit/s, 32 kHz, mono, no CRC: a 144-byte frame of 1152 samples; all-zero side
# information and main data decode as silence.
MP3_FRAME = bytes([0xFF, 0xFB, 0x18, 0xC0]) + bytes(140)
MP3_FRAME_SECONDS = 1152 / 32000


@dataclass(eq=False)
class Recording:
    sid: str
    account_sid: str
    call_sid: str
    channels: int
    start_time: datetime
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset = frozenset({"completed"})
    status: str = "in-progress"
    duration: int | None = None  # seconds, once completed
    date_updated: datetime | None = None
    callbacks: list = field(default_factory=list)  # status callbacks sent, in order

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{self.sid}.json"

    def callback_params(self, recording_url: str) -> dict[str, str]:
        """What Twilio posts to recordingStatusCallback for the recording's current status."""
        params = {
            "AccountSid": self.account_sid,
            "CallSid": self.call_sid,
            "RecordingSid": self.sid,
            "RecordingUrl": recording_url,
            "RecordingStatus": self.status,
            "RecordingChannels": str(self.channels),
            "RecordingStartTime": rfc2822(self.start_time),
            "RecordingSource": "DialVerb",
            "RecordingTrack": "both",
        }
        if self.status == "completed":
            params["RecordingDuration"] = str(self.duration or 0)
        if self.status in ("completed", "absent"):
            params["ErrorCode"] = "0"
        return params


def channels_for(mode: str) -> int:
    return 2 if mode.endswith("-dual") else 1


def resource(recording: Recording, date_created: datetime) -> dict:
    """The Recording resource (GET /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json)."""
    base = f"/{API_VERSION}/Accounts/{recording.account_sid}/Recordings/{recording.sid}"
    return {
        "account_sid": recording.account_sid,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "conference_sid": None,
        "date_created": rfc2822(date_created),
        "date_updated": rfc2822(recording.date_updated or date_created),
        "start_time": rfc2822(recording.start_time),
        "duration": str(recording.duration) if recording.duration is not None else None,
        "sid": recording.sid,
        "price": None,
        "price_unit": "USD",
        "status": "processing" if recording.status == "in-progress" else recording.status,
        "channels": recording.channels,
        "source": "DialVerb",
        "error_code": None,
        "uri": f"{base}.json",
        "encryption_details": None,
        "subresource_uris": {"add_on_results": f"{base}/AddOnResults.json",
                             "transcriptions": f"{base}/Transcriptions.json"},
        "media_url": None,
    }


def wav(channels: int, seconds: int = MEDIA_SECONDS) -> bytes:
    """16-bit PCM at 8 kHz: 440 Hz on the first channel, 660 Hz on the second."""
    frames = bytearray()
    for n in range(WAV_RATE * seconds):
        for channel in range(channels):
            frequency = 440 if channel == 0 else 660
            frames += struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * n / WAV_RATE)))
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(frames), b"WAVE", b"fmt ", 16, 1, channels,
                         WAV_RATE, WAV_RATE * channels * 2, channels * 2, 16, b"data", len(frames))
    return header + bytes(frames)


def mp3(seconds: int = MEDIA_SECONDS) -> bytes:
    return MP3_FRAME * math.ceil(seconds / MP3_FRAME_SECONDS)
