"""What a provider tells the app, as typed events: built at the edge, read by the call engine.

A provider adapter (app/providers/twilio_events.py for Twilio-family form
posts) turns a webhook into one of these; the engine never sees a provider's
field names. Ids and statuses are opaque strings, as the provider gave them
(statuses in Twilio's vocabulary, which compatible providers share).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.providers.interface import ProviderCall


@dataclass(frozen=True)
class IncomingCall:
    """A call to a service number: a voice trigger."""

    call_id: str
    caller: str | None  # as the provider gave it, not yet a number
    called: str | None


@dataclass(frozen=True)
class LegStatus:
    """A leg's progress: ringing, answered, ended (with its duration)."""

    call_id: str
    status: str  # queued, initiated, ringing, in-progress, answered, completed, busy, no-answer, failed, canceled
    caller: str | None = None
    called: str | None = None
    duration: int | None = None  # seconds, when it ended
    sequence: int | None = None  # orders a leg's reports; None when the provider gives none
    ended_at: dt.datetime | None = None  # when it ended, if not now (a report read later)


# The sequence given to a leg's end read from the provider's record (not a status callback): no callback
# can come after a call has ended, so a late real one (an "in-progress" delayed) must not overwrite it.
FROM_RECORD_SEQUENCE = 2**31 - 1


def leg_status_from_record(call: ProviderCall, *, caller: str | None, called: str | None,
                           now: dt.datetime) -> LegStatus:
    """The report of a call's end as the provider's record of it shows, for a lost final status callback."""
    # The provider's clock may run ahead of ours (the sandbox's does, on purpose): never a future end.
    ended_at = min(call.end_time, now) if call.end_time else None
    return LegStatus(call_id=call.sid, status=call.status, caller=caller or "", called=called or "",
                     duration=call.duration or 0, sequence=FROM_RECORD_SEQUENCE, ended_at=ended_at)


@dataclass(frozen=True)
class CallAnswered:
    """The callback leg was answered and asks what to play."""

    call_id: str
    answered_by: str | None = None  # what answering-machine detection said, as said
    by_machine: bool = False  # it said a machine (or a fax), not a person


@dataclass(frozen=True)
class GatherResult:
    """The keys pressed at a prompt ("" if none)."""

    call_id: str
    digits: str


@dataclass(frozen=True)
class DialResult:
    """How the dial of the second party ended."""

    call_id: str
    status: str  # completed, answered, busy, no-answer, failed, canceled
    dialled_call_id: str  # the second party's leg, "" if none


@dataclass(frozen=True)
class RecordingStatus:
    """A recording of a dialled call has started, is ready, or will not be (absent)."""

    recording_id: str  # the provider's, opaque
    call_id: str  # the call whose TwiML asked for it (for a <Dial>, the callback leg)
    status: str  # in-progress, completed, absent, failed
    duration: int | None = None  # seconds
    channels: int | None = None
    url: str | None = None  # where the provider says the audio is (informative: never fetched as given)


@dataclass(frozen=True)
class IncomingText:
    """A text to the service, from the provider or an SMS gateway."""

    source: str  # "twilio" or "gateway:<name>"
    message_id: str
    sender: str
    to: str | None
    body: str
    base_url: str
