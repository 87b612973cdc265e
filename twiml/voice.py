"""TwiML for the trigger and for each step of the callback leg's IVR."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from twiml.prompts import Speaker

PIN_TIMEOUT = 8
DESTINATION_TIMEOUT = 10
LEG_B_RING_TIMEOUT = 30
LEG_EVENTS = "initiated ringing answered completed"
# Both parties on their own channel, from the moment leg B answers (after its whisper): Twilio's <Dial record>.
RECORD_MODE = "record-from-answer-dual"
RECORDING_EVENTS = "in-progress completed absent"


@dataclass(frozen=True)
class Recording:
    """Where the provider reports the recording of a dial, and where leg B's announcement is fetched."""

    status_callback: str
    whisper: str


def spoken_digits(number: str) -> str:
    """'+4420...' -> '4, 4, 2, 0, ...': read as digits, not as one large quantity."""
    return ", ".join(ch for ch in number if ch.isdigit())


def _say(response, speaker: Speaker, *keys: str, **fields) -> None:
    for key in keys:
        for verb, content in speaker.script(key, **fields):
            if verb == "play":
                response.play(content)
            else:
                response.say(content, **speaker.say_attributes)


def _build_reject_busy() -> str:
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)


# Built once: it answers every trigger, and a busy reject is never billed.
REJECT_BUSY = _build_reject_busy()


def reject_busy() -> str:
    return REJECT_BUSY


def _gather(response, *, action: str, timeout: int, num_digits: int | None = None):
    kwargs = dict(input="dtmf", action=action, method="POST", timeout=timeout, finish_on_key="#",
                  action_on_empty_result=True)
    if num_digits:
        kwargs["num_digits"] = num_digits
    return response.gather(**kwargs)


def ask_pin(*, action: str, speaker: Speaker, before: tuple[str, ...] = ()) -> str:
    response = VoiceResponse()
    _say(response, speaker, *before)
    gather = _gather(response, action=action, timeout=PIN_TIMEOUT)
    _say(gather, speaker, "enter_pin")
    return str(response)


def ask_destination(*, action: str, speaker: Speaker, before: tuple[str, ...] = (), **fields) -> str:
    response = VoiceResponse()
    _say(response, speaker, *before, **fields)
    gather = _gather(response, action=action, timeout=DESTINATION_TIMEOUT)
    _say(gather, speaker, "enter_destination")
    return str(response)


def ask_voucher(*, action: str, speaker: Speaker) -> str:
    response = VoiceResponse()
    gather = _gather(response, action=action, timeout=DESTINATION_TIMEOUT)
    _say(gather, speaker, "enter_voucher")
    return str(response)


def connect(
    *, number: str, action: str, status_callback: str, caller_id: str | None, time_limit: int, speaker: Speaker,
    balance: str | None, recording: Recording | None = None,
) -> str:
    """Dial `number`, announcing the balance and the minutes; `balance=None` (a caller who is not the
    account's owner, such as a website widget's visitor) only says the call is being connected.
    With `recording`, leg A hears that the call is recorded first, and leg B as it answers."""
    response = VoiceResponse()
    if recording is not None:
        _say(response, speaker, "call_recorded")
    if balance is None:
        _say(response, speaker, "connecting_now")
    else:
        _say(response, speaker, "connecting", balance=balance, minutes=max(1, time_limit // 60))
    # hangupOnStar: the subscriber presses * to end leg B and get the next-call offer.
    dial_options = dict(action=action, method="POST", timeout=LEG_B_RING_TIMEOUT, time_limit=time_limit,
                        hangup_on_star=True, caller_id=caller_id)
    if recording is not None:
        dial_options.update(record=RECORD_MODE, recording_status_callback=recording.status_callback,
                            recording_status_callback_method="POST",
                            recording_status_callback_event=RECORDING_EVENTS)
    dial = response.dial(**dial_options)
    number_options = dict(status_callback=status_callback, status_callback_event=LEG_EVENTS,
                          status_callback_method="POST")
    if recording is not None:
        # The whisper: TwiML played to leg B alone once it answers, before the two are bridged.
        number_options.update(url=recording.whisper, method="POST")
    dial.number(number, **number_options)
    return str(response)


def whisper(*, speaker: Speaker) -> str:
    """What leg B hears on answering a recorded call, before it is bridged."""
    response = VoiceResponse()
    _say(response, speaker, "call_recorded")
    return str(response)


def confirm_connect(*, action: str, number: str, speaker: Speaker, before: tuple[str, ...] = ()) -> str:
    response = VoiceResponse()
    _say(response, speaker, *before)
    gather = _gather(response, action=action, timeout=PIN_TIMEOUT, num_digits=1)
    _say(gather, speaker, "confirm_connect", number=spoken_digits(number))
    return str(response)


def offer_next_call(*, action: str, speaker: Speaker, before: tuple[str, ...] = ()) -> str:
    response = VoiceResponse()
    _say(response, speaker, *before)
    gather = _gather(response, action=action, timeout=PIN_TIMEOUT, num_digits=1)
    _say(gather, speaker, "next_call")
    return str(response)


def goodbye(*, speaker: Speaker, keys: tuple[str, ...] = ("goodbye",)) -> str:
    response = VoiceResponse()
    _say(response, speaker, *keys)
    response.hangup()
    return str(response)


def empty() -> str:
    return str(VoiceResponse())
