"""Provider selection: PROVIDER's name -> its credentials, REST adapter and webhook signature check.

The one place that knows which adapters exist. `app/main.py` asks it for the
configured provider (or, with the sandbox carrier, for the provider whose
dialect the carrier speaks, with the carrier's credentials); the web handlers
check signatures with the `verifier` it returns; the engine sees only
`interface.Provider`. A new provider adds one `Entry` here (Telnyx: "telnyx").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.core.settings import Settings
from app.providers import credentials as accounts
from app.providers.interface import Credentials, Provider
from app.providers.signalwire import SignalWireProvider
from app.providers.signatures import SignalWireSignatures, TwilioSignatures, WebhookVerifier
from app.providers.twilio import TwilioProvider


@dataclass(frozen=True)
class Adapter:
    """One provider as the app uses it: the REST client (its `name` too) and the check of its webhooks."""

    provider: Provider
    verifier: WebhookVerifier
    credentials: Credentials

    @property
    def name(self) -> str:
        return self.provider.name


@dataclass(frozen=True)
class Entry:
    credentials: Callable[[Settings], Credentials]  # the account, from the settings (settings.check vouched for them)
    build: Callable[[Settings, Credentials], Adapter]


def _twilio(settings: Settings, account: Credentials) -> Adapter:
    return Adapter(TwilioProvider(account, timeout=settings.provider_timeout_seconds),
                   TwilioSignatures(account.signing_key or account.auth_token, settings.twilio_webhook_shared_key),
                   account)


def _signalwire(settings: Settings, account: Credentials) -> Adapter:
    if not account.signing_key:
        # Never fall back to the API token: SignalWire does not sign with it.
        raise SystemExit("SignalWire needs its signing key (SIGNALWIRE_SIGNING_KEY)")
    return Adapter(SignalWireProvider(account, timeout=settings.provider_timeout_seconds),
                   SignalWireSignatures(account.signing_key), account)


ADAPTERS: dict[str, Entry] = {
    "twilio": Entry(accounts.twilio_credentials, _twilio),
    "signalwire": Entry(accounts.signalwire_credentials, _signalwire),
    # "telnyx": Entry(telnyx credentials, its adapter and Ed25519 verifier) - the Telnyx adapter registers here.
}


def build(name: str, settings: Settings, *, account: Credentials | None = None) -> Adapter:
    """The adapter of provider `name`; `account`: given (the sandbox carrier's) rather than from the settings."""
    entry = ADAPTERS.get(name)
    if entry is None:
        raise SystemExit(f"PROVIDER={name}: no such provider in this build ({', '.join(sorted(ADAPTERS))})")
    return entry.build(settings, account or entry.credentials(settings))
