"""Simulated handsets, keyed by E.164 number, each following a script.

A phone plays whichever side of a call the carrier puts it on: the callee of
a REST-created call, the caller of an inbound call (`Carrier.ring`), or leg B
of a `<Dial>`. Its script says how it answers and what it presses:

- `answer`: "answer", "busy", "no-answer", "fail" or "voicemail".
- `answer_after`: virtual seconds of ringing before it answers (or, for
  "busy", before the busy signal). "no-answer" rings until the caller's
  timeout; so does any phone whose `answer_after` exceeds that timeout.
- `keys`: one entry per `<Gather>` the phone meets during a call, in order;
  each entry is the DTMF string pressed once the prompt has played
  (e.g. "482193#"), or None to stay silent so the Gather times out. Once the
  list runs out the phone stays silent. Every call starts again at entry 0.
  A voicemail never presses anything.
- `talk_seconds`: as leg B of a `<Dial>`, how long the phone stays in the
  bridge before hanging up; None stays until the other side or `timeLimit`
  ends it.
- `hangup_after`: hang up this many virtual seconds after answering (or, as
  the caller of an inbound call, after the carrier picks up), wherever the
  call is; None never hangs up first.
- `star_after`: as leg A bridged by `<Dial hangupOnStar="true">`, press `*`
  this many seconds into the bridge; None never presses it.
- `interactive`: ignore `keys` and wait at each `<Gather>` for keys sent with
  `Carrier.press` (or the control API), honouring the Gather timeout.

Messages delivered to the phone land in `inbox`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Iterator

ANSWERS = ("answer", "busy", "no-answer", "fail", "voicemail")


@dataclass
class Phone:
    answer: str = "answer"
    answer_after: float = 1.0
    keys: list[str | None] = field(default_factory=list)
    talk_seconds: float | None = 60.0
    hangup_after: float | None = None
    star_after: float | None = None
    interactive: bool = False
    inbox: list = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.answer not in ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(ANSWERS)}, not {self.answer!r}")
        self.keys = list(self.keys)

    @property
    def answers(self) -> bool:
        return self.answer in ("answer", "voicemail")

    def keys_for(self, gather_index: int) -> str | None:
        if self.answer == "voicemail" or self.interactive:
            return None
        if gather_index < len(self.keys):
            return self.keys[gather_index]
        return None

    def script(self) -> dict:
        """The JSON-friendly script (everything but the inbox)."""
        data = asdict(self)
        data.pop("inbox")
        return data

    @classmethod
    def from_script(cls, data: dict) -> "Phone":
        known = {f.name for f in fields(cls)} - {"inbox"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown phone field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


class Phones:
    """Phones by number. An unknown number gets a copy of `default` on first use."""

    def __init__(self, default: Phone | None = None) -> None:
        self.default = default or Phone()
        self._phones: dict[str, Phone] = {}

    def __getitem__(self, number: str) -> Phone:
        phone = self._phones.get(number)
        if phone is None:
            phone = copy.deepcopy(self.default)
            phone.inbox = []
            self._phones[number] = phone
        return phone

    def __setitem__(self, number: str, phone: Phone) -> None:
        self._phones[number] = phone

    def __delitem__(self, number: str) -> None:
        del self._phones[number]

    def __contains__(self, number: object) -> bool:
        return number in self._phones

    def __iter__(self) -> Iterator[str]:
        return iter(self._phones)

    def __len__(self) -> int:
        return len(self._phones)

    def items(self):
        return self._phones.items()

    def set(self, number: str, **script) -> Phone:
        """Give `number` a new script, keeping messages already delivered to it."""
        inbox = self._phones[number].inbox if number in self._phones else []
        phone = Phone(**script)
        phone.inbox = inbox
        self._phones[number] = phone
        return phone
