"""What every handler and background task shares: settings, database, provider, secret."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core import request_origin
from app.core.wakeup import Wakeup
from app.data.db import Database
from app.core.metrics import Metrics
from app.providers.interface import Credentials, Provider
from app.core.settings import Settings


@dataclass
class Platform:
    settings: Settings
    db: Database
    secret_key: str
    credentials: Credentials
    provider: Provider  # app/providers/interface.py; main.py picks the adapter. The first of PROVIDERS.
    metrics: "Metrics | None" = None
    # The address `callback-platform serve` bound (http://127.0.0.1:8000), when it is known.
    listen_url: str | None = None
    # Set when a request is written so the dispatcher need not wait for its next poll. Set from any
    # thread: the dispatcher waits on a loop of its own (app/calls/dispatch_thread.py), and the
    # dispatcher's copy of the platform shares this one with the webhooks'.
    work_ready: Wakeup = field(default_factory=Wakeup)
    # Set when an operator webhook event is queued, so the sender need not wait for its next poll;
    # the dispatcher's housekeeping and alarms queue them from its thread.
    operator_events_ready: Wakeup = field(default_factory=Wakeup)
    # Every provider of PROVIDERS by name, in its order (app/calls/routing.py picks among them);
    # empty: `provider` alone, under the first name of PROVIDERS.
    providers: dict[str, Provider] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.providers:
            self.providers = {self.settings.provider_names[0]: self.provider}

    @property
    def default_provider_name(self) -> str:
        return next(iter(self.providers))

    def provider_for(self, name: str | None) -> Provider:
        """The provider called `name` (a leg's or a request's); the first for rows written before
        there were several, or naming one no longer configured (asked there, it answers not found)."""
        return self.providers.get(name or "", self.provider)

    def wake_dispatcher(self) -> None:
        """From any thread: the dispatcher's loop is woken (once, however many ask before it wakes)."""
        self.work_ready.set()

    def callback_base(self, request) -> str:
        """The base of every URL given to the provider, and of the URL its signatures cover.

        Never the request's Host or X-Forwarded-Host: a subscriber could point the
        provider's fetches and status callbacks at a server of their own. With a real
        provider PUBLIC_BASE_URL is required (settings.check); the sandbox, which runs
        on this machine, is given the address the app listens on.
        """
        return (self.settings.public_base_url or self.listen_url
                or request_origin.socket_base(request.scope))
