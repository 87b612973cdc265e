"""Twilio-family webhooks (signed form posts) as the typed events of app/providers/events.py.

The only place that knows Twilio's field names (CallSid, CallStatus, Digits,
DialCallStatus, SequenceNumber, AnsweredBy, MessageSid, From, To, Body, RecordingSid...).
Values are passed through as given; what the engine must not trust (a sid's
shape, a status outside its vocabulary, a number's length) it checks itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.providers import events

# What answering-machine detection calls anything but a person.
MACHINE = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})
MAX_INT = 2**31 - 1


def _int(value) -> int | None:
    """A non-negative integer the database can store, or None."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= MAX_INT else None


def incoming_call(form: Mapping[str, str]) -> events.IncomingCall:
    return events.IncomingCall(call_id=form.get("CallSid", ""), caller=form.get("From"), called=form.get("To"))


def leg_status(form: Mapping[str, str]) -> events.LegStatus:
    return events.LegStatus(
        call_id=form.get("CallSid") or "", status=(form.get("CallStatus") or "").lower(),
        caller=form.get("From"), called=form.get("To"), duration=_int(form.get("CallDuration")),
        sequence=_int(form.get("SequenceNumber")),
    )


def call_answered(form: Mapping[str, str]) -> events.CallAnswered:
    answered_by = form.get("AnsweredBy")
    return events.CallAnswered(call_id=form.get("CallSid", ""), answered_by=answered_by,
                               by_machine=answered_by in MACHINE)


def gather_result(form: Mapping[str, str]) -> events.GatherResult:
    return events.GatherResult(call_id=form.get("CallSid", ""), digits=(form.get("Digits") or "").strip())


def dial_result(form: Mapping[str, str]) -> events.DialResult:
    return events.DialResult(call_id=form.get("CallSid", ""), status=form.get("DialCallStatus", ""),
                             dialled_call_id=form.get("DialCallSid") or "")


def recording_status(form: Mapping[str, str]) -> events.RecordingStatus:
    return events.RecordingStatus(
        recording_id=form.get("RecordingSid") or "", call_id=form.get("CallSid") or "",
        status=(form.get("RecordingStatus") or "").lower(), duration=_int(form.get("RecordingDuration")),
        channels=_int(form.get("RecordingChannels")), url=form.get("RecordingUrl") or None,
    )


def incoming_text(form: Mapping[str, str], *, base_url: str, max_length: int) -> events.IncomingText:
    return events.IncomingText(
        source="twilio", message_id=form.get("MessageSid") or form.get("SmsSid") or "",
        sender=form.get("From", ""), to=form.get("To"), body=form.get("Body", "")[:max_length], base_url=base_url,
    )
