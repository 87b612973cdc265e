"""A call's record: its status machine, timestamps, and what its party heard.

Statuses move only forward, along the edges in `TRANSITIONS`:

    queued -> initiated -> ringing -> in-progress -> completed
       \\________\\___________\\-> busy | no-answer | failed | canceled

An inbound call starts at `ringing`. `initiated` exists only in status
callbacks; the REST resource shows such a call as `queued`, as Twilio does.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import datetime

from .clock import rfc2822
from .phones import Phone
from .pricing import CallPricing

API_VERSION = "2010-04-01"
TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
TRANSITIONS = {
    "queued": {"initiated", "canceled", "failed"},
    "initiated": {"ringing", "busy", "no-answer", "failed", "canceled"},
    "ringing": {"in-progress", "busy", "no-answer", "failed", "canceled"},
    "in-progress": {"completed"},
}
# Progress events a status callback can ask for, and the CallStatus each reports.
EVENTS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}


class IllegalTransition(RuntimeError):
    pass


class Entry(tuple):
    """One transcript line, e.g. ("say", "Hello", "en-US"); `at` is when it happened.

    It compares equal to the plain tuple, so tests can write
    `assert ("hangup",) in call.transcript`.
    """

    at: datetime

    def __new__(cls, at: datetime, *fields):
        entry = super().__new__(cls, fields)
        entry.at = at
        return entry

    @property
    def kind(self) -> str:
        return self[0]


@dataclass(eq=False)
class Call:
    sid: str
    account_sid: str
    to: str
    from_: str
    direction: str  # inbound | outbound-api | outbound-dial
    phone: Phone
    date_created: datetime
    parent_sid: str | None = None
    status: str = "queued"
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_events: frozenset = frozenset({"completed"})
    status_callback_method: str = "POST"
    timeout: float = 60.0
    time_limit: float = 14400.0
    machine_detection: str | None = None
    answered_by: str | None = None
    phone_number_sid: str | None = None
    date_updated: datetime | None = None
    start_time: datetime | None = None  # left the CPS queue and started dialling
    answer_time: datetime | None = None
    end_time: datetime | None = None
    rejected: str | None = None  # the <Reject> reason when the first verb rejected it
    error: tuple | None = None  # (code, message) of an application error
    activity: str = "queued"  # what the call is doing now, for the control API
    pricing: CallPricing = field(default_factory=CallPricing)  # the carrier's rate when the call was placed
    children: list = field(default_factory=list)
    transcript: list = field(default_factory=list)
    callbacks: list = field(default_factory=list)  # status callbacks sent, in order

    def __post_init__(self) -> None:
        self.date_updated = self.date_updated or self.date_created
        self.keypad: asyncio.Queue[str] = asyncio.Queue()
        self.gathers_met = 0
        self.sequence = 0
        self.waiting_for_keys = False
        self.prompts: list[str] = []  # what the Gather now waiting has played so far
        # Lifecycle plumbing owned by the carrier.
        self.task: asyncio.Task | None = None
        self.pending_end: str | None = None
        self.pending_redirect = None
        self.watchers: list[asyncio.Task] = []

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    @property
    def answered(self) -> bool:
        return self.answer_time is not None

    @property
    def duration(self) -> int | None:
        """Seconds from answer to hang-up: None while live, 0 if never answered."""
        if not self.ended:
            return None
        if self.answer_time is None or self.end_time is None:
            return 0
        return max(0, round((self.end_time - self.answer_time).total_seconds()))

    @property
    def billed_minutes(self) -> int:
        return math.ceil((self.duration or 0) / 60)

    @property
    def price(self) -> str | None:
        """The charge once rated, as Twilio writes it ("-0.04200"); None if never connected."""
        return self.pricing.price(self)

    @property
    def queue_seconds(self) -> float | None:
        if self.start_time is None:
            return None
        return max(0.0, (self.start_time - self.date_created).total_seconds())

    @property
    def rest_status(self) -> str:
        return "queued" if self.status == "initiated" else self.status

    def move(self, status: str, at: datetime) -> None:
        if status not in TRANSITIONS.get(self.status, ()):
            raise IllegalTransition(f"{self.sid}: {self.status} -> {status}")
        self.status = status
        self.date_updated = at
        if status == "initiated":
            self.start_time = self.start_time or at
        elif status == "in-progress":
            self.answer_time = at
        elif status in TERMINAL:
            self.end_time = at
            self.activity = "ended"

    def hear(self, at: datetime, *fields) -> Entry:
        entry = Entry(at, *fields)
        self.transcript.append(entry)
        return entry

    def heard(self, *kinds: str) -> list[tuple]:
        """The transcript as plain tuples, optionally only entries of some kinds."""
        return [tuple(e) for e in self.transcript if not kinds or e.kind in kinds]

    def params(self) -> dict[str, str]:
        """Twilio's voice request parameters for this call."""
        params = {
            "CallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "Called": self.to,
            "Caller": self.from_,
            "CallStatus": self.status,
            "Direction": self.direction,
            "ApiVersion": API_VERSION,
        }
        if self.parent_sid:
            params["ParentCallSid"] = self.parent_sid
        if self.answered_by:
            params["AnsweredBy"] = self.answered_by
        return params

    def progress_params(self, event_status: str, at: datetime) -> dict[str, str]:
        """Status callback parameters for reaching `event_status`."""
        params = self.params()
        params.update(
            CallStatus=event_status,
            SequenceNumber=str(self.sequence),
            Timestamp=rfc2822(at),
            CallbackSource="call-progress-events",
        )
        if event_status in TERMINAL:
            params["CallDuration"] = str(self.duration or 0)
            params["Duration"] = str(self.billed_minutes)
        self.sequence += 1
        return params
