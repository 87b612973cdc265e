"""Twilio-family webhooks as typed events (app/providers/twilio_events.py), and a call record as a leg's end."""

from __future__ import annotations

import datetime as dt

from app.providers import events, twilio_events
from app.providers.interface import ProviderCall


def test_a_status_callback_becomes_a_leg_status():
    event = twilio_events.leg_status({"CallSid": "CA1", "CallStatus": "No-Answer", "From": "+1415", "To": "+1212",
                                      "CallDuration": "42", "SequenceNumber": "3"})
    assert event == events.LegStatus(call_id="CA1", status="no-answer", caller="+1415", called="+1212",
                                     duration=42, sequence=3)


def test_numbers_that_are_not_storable_counts_are_dropped():
    event = twilio_events.leg_status({"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "-1",
                                      "SequenceNumber": str(2**31)})
    assert (event.duration, event.sequence) == (None, None)
    assert twilio_events.leg_status({}) == events.LegStatus(call_id="", status="")


def test_ivr_steps_gather_and_dial_results():
    assert twilio_events.gather_result({"CallSid": "CA1", "Digits": " 12# "}).digits == "12#"
    assert twilio_events.gather_result({"CallSid": "CA1"}).digits == ""
    answered = twilio_events.call_answered({"CallSid": "CA1", "AnsweredBy": "machine_end_beep"})
    assert answered.by_machine and answered.answered_by == "machine_end_beep"
    assert not twilio_events.call_answered({"CallSid": "CA1", "AnsweredBy": "human"}).by_machine
    dial = twilio_events.dial_result({"CallSid": "CA1", "DialCallStatus": "busy", "DialCallSid": "CA2"})
    assert dial == events.DialResult(call_id="CA1", status="busy", dialled_call_id="CA2")


def test_incoming_call_and_text():
    call = twilio_events.incoming_call({"CallSid": "CA1", "From": "+1415", "To": "+1212"})
    assert call == events.IncomingCall(call_id="CA1", caller="+1415", called="+1212")
    text = twilio_events.incoming_text({"SmsSid": "SM1", "From": "+1415", "To": "+1212", "Body": "hello"},
                                       base_url="https://x", max_length=4)
    assert (text.source, text.message_id, text.body) == ("twilio", "SM1", "hell")


def test_a_call_record_becomes_the_end_its_lost_callback_would_have_reported():
    now = dt.datetime(2026, 1, 1, 12)
    call = ProviderCall(sid="CA1", status="completed", duration=30, price=None, price_unit=None,
                        start_time=None, end_time=now + dt.timedelta(minutes=5))
    event = events.leg_status_from_record(call, caller=None, called="+1212", now=now)
    assert event == events.LegStatus(call_id="CA1", status="completed", caller="", called="+1212", duration=30,
                                     sequence=events.FROM_RECORD_SEQUENCE, ended_at=now)  # never in the future
