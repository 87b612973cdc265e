"""Fault injection for the REST API, switchable at runtime and reproducible.

`error_rate` of create requests (calls and messages) are answered with one of
`error_statuses` (500, 503, or 429 with code 20429); `timeout_rate` of them
stall for `stall_seconds` of real time, longer than a client's timeout. A
stalled create places the call anyway when `timeout_creates` is set: the
client never learns whether it did, which is the case retries must survive.
`fail_next(k)` and `stall_next(k)` script the next k creates exactly.
`answer_delay` adds virtual seconds to every phone's time to answer.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Faults:
    error_rate: float = 0.0
    error_statuses: tuple = (500, 503, 429)
    timeout_rate: float = 0.0
    stall_seconds: float = 30.0
    timeout_creates: bool = False
    answer_delay: float = 0.0
    seed: int | None = None
    injected: list = field(default_factory=list)  # (operation, fault) in order

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._scripted: deque = deque()

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self._random = random.Random(seed)

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        self._scripted.extend([status] * count)

    def stall_next(self, count: int = 1) -> None:
        self._scripted.extend(["stall"] * count)

    def reset(self) -> None:
        self.error_rate = 0.0
        self.timeout_rate = 0.0
        self.answer_delay = 0.0
        self.timeout_creates = False
        self._scripted.clear()

    @property
    def pending(self) -> int:
        return len(self._scripted)

    def draw(self, operation: str) -> int | str | None:
        """The fault for this request: an HTTP status, "stall", or None."""
        fault: int | str | None = None
        if self._scripted:
            fault = self._scripted.popleft()
        else:
            roll = self._random.random()
            if roll < self.error_rate:
                fault = self._random.choice(list(self.error_statuses))
            elif roll < self.error_rate + self.timeout_rate:
                fault = "stall"
        if fault is not None:
            self.injected.append((operation, fault))
        return fault

    def settings(self) -> dict:
        return {
            "error_rate": self.error_rate,
            "error_statuses": list(self.error_statuses),
            "timeout_rate": self.timeout_rate,
            "stall_seconds": self.stall_seconds,
            "timeout_creates": self.timeout_creates,
            "answer_delay": self.answer_delay,
            "seed": self.seed,
            "pending": self.pending,
        }

    def update(self, data: dict) -> None:
        for name in ("error_rate", "timeout_rate", "stall_seconds", "answer_delay"):
            if name in data:
                setattr(self, name, float(data[name]))
        if "error_statuses" in data:
            self.error_statuses = tuple(int(s) for s in data["error_statuses"])
        if "timeout_creates" in data:
            self.timeout_creates = bool(data["timeout_creates"])
        if "seed" in data:
            self.reseed(data["seed"])
        if "fail_next" in data:
            self.fail_next(int(data["fail_next"]), int(data.get("status", 500)))
        if "stall_next" in data:
            self.stall_next(int(data["stall_next"]))
