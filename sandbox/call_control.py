"""What the interpreter asks of the network a call runs on, and the values passed across.

The interpreter plays TwiML on one call and knows nothing else of the
carrier: through `CallControl` it reads the virtual clock, fetches documents
(signed webhook requests), rings the legs of a `<Dial>`, ends calls, and sends
the SMS of a `<Message>` verb. `Network` provides these; keeping them to a
Protocol here is what lets the network import the interpreter without the
interpreter importing the network back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from . import twiml_reader
from .calls import Call
from .clock import Clock
from .messages import Message
from .recordings import Recording
from .webhooks import Webhooks


@dataclass(frozen=True)
class Fetch:
    """A TwiML document to request from the application."""

    url: str
    method: str = "POST"
    extra: dict = field(default_factory=dict)
    kind: str = "voice"


@dataclass(frozen=True)
class Inline:
    """A TwiML document given with the request (`Twiml=`), not fetched."""

    twiml: str


Source = Fetch | Inline


def describe(source: Source) -> str:
    return source.url if isinstance(source, Fetch) else "(inline TwiML)"


@dataclass
class DialLeg:
    """One number a `<Dial>` rings: leg B's call and the task that runs it."""

    child: Call
    number: twiml_reader.Number
    task: asyncio.Task
    bridged: asyncio.Future  # resolves when leg B is ready to talk


@runtime_checkable
class CallControl(Protocol):
    # Read through the object each time, not captured: the benchmark's carrier
    # wraps `webhooks.request` after the carrier is built.
    clock: Clock
    webhooks: Webhooks  # `request()` fetches a document; it raises WebhookError on failure

    def dial_leg(self, parent: Call, number: twiml_reader.Number, dial: twiml_reader.Dial) -> DialLeg:
        """Start ringing `number` for `parent`'s `<Dial>`."""
        ...

    def end(self, call: Call | str, status: str = "completed", note: tuple | None = None) -> bool:
        """End a call (a leg B the Dial no longer needs); False if it had already ended."""
        ...

    def late_dial_action(self, parent: Call, legs: list[DialLeg], fetch: Fetch) -> None:
        """Request the Dial action after the caller hung up mid-Dial, as Twilio does."""
        ...

    def send_message(self, *, to: str, from_: str | None, body: str, direction: str = "outbound-api") -> Message:
        """Send an SMS (a `<Message>` verb in voice TwiML)."""
        ...

    def start_recording(self, parent: Call, dial: twiml_reader.Dial) -> Recording:
        """A `<Dial record>` begins recording `parent` (the in-progress callback, if asked for)."""
        ...

    def finish_recording(self, recording: Recording) -> None:
        """The recorded dial ended: the recording is completed (the completed callback)."""
        ...
