"""What every handler and background task shares: settings, database, provider, secret."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from app.db import Database
from app.metrics import Metrics
from app.provider import Credentials, TwilioProvider
from app.settings import Settings


@dataclass
class Platform:
    settings: Settings
    db: Database
    secret_key: str
    credentials: Credentials
    provider: TwilioProvider
    metrics: "Metrics | None" = None
    # Set when a request is written so the dispatcher need not wait for its next poll.
    work_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def wake_dispatcher(self) -> None:
        self.work_ready.set()

    def base_url(self, request_base: str) -> str:
        return self.settings.public_base_url or request_base.rstrip("/")
