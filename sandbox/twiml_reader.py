"""TwiML documents parsed into verbs, with Twilio's defaults filled in.

Reading only: the carrier reads the TwiML the application answers and never
writes any (the top-level `twiml` package is the application's writer; this
module shares nothing with it, so a bug in one cannot hide in the other). Attribute values
that do not parse fall back to the default, as Twilio does after logging a
schema warning. An element the sandbox does not know becomes `Unknown`, so
the verbs before it still run and the interpreter can report it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from . import errors


class TwimlError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Say:
    text: str
    voice: str = "man"
    language: str = "en-US"
    loop: int = 1


@dataclass(frozen=True)
class Play:
    url: str
    loop: int = 1
    digits: str | None = None


@dataclass(frozen=True)
class Pause:
    length: float = 1.0


@dataclass(frozen=True)
class Gather:
    prompts: tuple = ()
    input: str = "dtmf"
    num_digits: int | None = None
    finish_on_key: str = "#"
    timeout: float = 5.0
    action: str | None = None
    method: str = "POST"
    action_on_empty_result: bool = False


@dataclass(frozen=True)
class Number:
    number: str
    url: str | None = None
    method: str = "POST"
    status_callback: str | None = None
    status_callback_events: frozenset = frozenset({"completed"})
    status_callback_method: str = "POST"
    send_digits: str | None = None


@dataclass(frozen=True)
class Dial:
    numbers: tuple = ()
    action: str | None = None
    method: str = "POST"
    timeout: float = 30.0
    time_limit: float = 14400.0
    hangup_on_star: bool = False
    caller_id: str | None = None
    record: str | None = None  # one of recordings.RECORD_MODES to record; anything else does not
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: frozenset = frozenset({"completed"})


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str = "rejected"


@dataclass(frozen=True)
class Message:
    body: str
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = "POST"
    media: tuple = field(default=())


@dataclass(frozen=True)
class Unknown:
    name: str
    reason: str


Verb = Say | Play | Pause | Gather | Dial | Redirect | Hangup | Reject | Message | Unknown


def parse_voice(document: str | bytes) -> list[Verb]:
    return [_voice_verb(element) for element in _response(document)]


def parse_messaging(document: str | bytes) -> list[Verb]:
    verbs: list[Verb] = []
    for element in _response(document):
        if element.tag == "Message":
            verbs.append(_message(element))
        elif element.tag == "Redirect":
            verbs.append(Redirect(url=_text(element), method=_method(element)))
        else:
            verbs.append(Unknown(element.tag, f"<{element.tag}> is not a Messaging verb"))
    return verbs


def _response(document: str | bytes) -> ET.Element:
    if isinstance(document, str):
        # ElementTree refuses str input that carries an encoding declaration.
        document = document.encode("utf-8")
    if not document.strip():
        # Twilio treats an empty 200 as an empty document for Messaging; for
        # Voice it is a parse failure, which the caller decides.
        raise TwimlError(errors.DOCUMENT_PARSE_FAILURE, "empty document")
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise TwimlError(errors.DOCUMENT_PARSE_FAILURE, f"document is not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(errors.DOCUMENT_PARSE_FAILURE, f"root element is <{root.tag}>, not <Response>")
    return root


def _voice_verb(element: ET.Element) -> Verb:
    tag = element.tag
    if tag == "Say":
        return _say(element)
    if tag == "Play":
        return _play(element)
    if tag == "Pause":
        return Pause(length=_number(element.get("length"), 1.0))
    if tag == "Gather":
        return _gather(element)
    if tag == "Dial":
        return _dial(element)
    if tag == "Redirect":
        url = _text(element)
        if not url:
            return Unknown(tag, "<Redirect> has no URL")
        return Redirect(url=url, method=_method(element))
    if tag == "Hangup":
        return Hangup()
    if tag == "Reject":
        reason = element.get("reason", "rejected")
        return Reject(reason=reason if reason in ("rejected", "busy") else "rejected")
    if tag == "Message":
        return _message(element)
    return Unknown(tag, f"<{tag}> is not supported by the sandbox")


def _say(element: ET.Element) -> Say:
    return Say(
        text=_text(element, all_text=True),
        voice=element.get("voice", "man"),
        language=element.get("language", "en-US"),
        loop=_integer(element.get("loop"), 1),
    )


def _play(element: ET.Element) -> Play:
    return Play(url=_text(element), loop=_integer(element.get("loop"), 1), digits=element.get("digits"))


def _gather(element: ET.Element) -> Gather | Unknown:
    prompts = []
    for child in element:
        if child.tag == "Say":
            prompts.append(_say(child))
        elif child.tag == "Play":
            prompts.append(_play(child))
        elif child.tag == "Pause":
            prompts.append(Pause(length=_number(child.get("length"), 1.0)))
        else:
            return Unknown("Gather", f"<{child.tag}> cannot be nested in <Gather>")
    num_digits = _integer(element.get("numDigits"), 0)
    return Gather(
        prompts=tuple(prompts),
        input=element.get("input", "dtmf"),
        num_digits=num_digits if num_digits > 0 else None,
        finish_on_key=element.get("finishOnKey", "#"),
        timeout=_number(element.get("timeout"), 5.0),
        action=element.get("action") or None,
        method=_method(element),
        action_on_empty_result=_boolean(element.get("actionOnEmptyResult"), False),
    )


def _dial(element: ET.Element) -> Dial | Unknown:
    numbers = []
    for child in element:
        if child.tag != "Number":
            return Unknown("Dial", f"<Dial><{child.tag}> is not supported by the sandbox")
        numbers.append(
            Number(
                number=_text(child),
                url=child.get("url") or None,
                method=_method(child),
                status_callback=child.get("statusCallback") or None,
                status_callback_events=_events(child.get("statusCallbackEvent")),
                status_callback_method=_method(child, "statusCallbackMethod"),
                send_digits=child.get("sendDigits"),
            )
        )
    if not numbers:
        number = _text(element)
        if not number:
            return Unknown("Dial", "<Dial> has no number to dial")
        numbers.append(Number(number=number))
    return Dial(
        numbers=tuple(numbers),
        action=element.get("action") or None,
        method=_method(element),
        timeout=_number(element.get("timeout"), 30.0),
        time_limit=_number(element.get("timeLimit"), 14400.0),
        hangup_on_star=_boolean(element.get("hangupOnStar"), False),
        caller_id=element.get("callerId") or None,
        record=element.get("record"),
        recording_status_callback=element.get("recordingStatusCallback") or None,
        recording_status_callback_method=_method(element, "recordingStatusCallbackMethod"),
        # Twilio's default is `completed` alone; unknown events are ignored, as it logs and ignores them.
        recording_status_callback_events=frozenset(
            event for event in re.split(r"[\s,]+", element.get("recordingStatusCallbackEvent") or "completed")
            if event in ("in-progress", "completed", "absent")) or frozenset({"completed"}),
    )


def _message(element: ET.Element) -> Message:
    body_elements = element.findall("Body")
    media = tuple(_text(m) for m in element.findall("Media"))
    body = " ".join(_text(b, all_text=True) for b in body_elements) if body_elements else _text(element)
    return Message(
        body=body,
        to=element.get("to") or None,
        from_=element.get("from") or None,
        action=element.get("action") or None,
        method=_method(element),
        media=media,
    )


def _events(raw: str | None) -> frozenset:
    events = set(re.split(r"[\s,]+", raw.strip())) if raw and raw.strip() else set()
    # Twilio always posts 'completed' once a status callback URL is given.
    return frozenset(events | {"completed"})


def _text(element: ET.Element, all_text: bool = False) -> str:
    raw = "".join(element.itertext()) if all_text else (element.text or "")
    return " ".join(raw.split())


def _method(element: ET.Element, name: str = "method") -> str:
    value = (element.get(name) or "POST").upper()
    return value if value in ("GET", "POST") else "POST"


def _integer(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


def _number(raw: str | None, default: float) -> float:
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value >= 0 else default


def _boolean(raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    return raw.strip().lower() == "true"
