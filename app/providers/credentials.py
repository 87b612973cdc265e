"""The provider account the app uses: Twilio's or SignalWire's from the settings, or the embedded sandbox carrier's."""

from __future__ import annotations

import hashlib
import hmac

from app.core.settings import Settings, signalwire_api_base
from app.providers.interface import Credentials


def sandbox_auth_token(secret_key: str) -> str:
    # Derived, not stored: the local carrier and the app agree on it without configuration.
    return hmac.new(secret_key.encode(), b"sandbox-auth-token", hashlib.sha256).hexdigest()[:32]


def sandbox_signing_key(secret_key: str) -> str:
    """The key the sandbox signs webhooks with in SignalWire's dialect: not its API token, as SignalWire's is not."""
    return "PSK_" + hmac.new(secret_key.encode(), b"sandbox-signing-key", hashlib.sha256).hexdigest()[:32]


def twilio_credentials(settings: Settings) -> Credentials:
    if not settings.twilio_auth_token:
        # An empty key would accept webhooks signed with it (settings.check refuses this earlier).
        raise SystemExit("TWILIO_AUTH_TOKEN is required with TWILIO_ACCOUNT_SID")
    return Credentials(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base)


def signalwire_credentials(settings: Settings) -> Credentials:
    # settings.check has refused a half-configured SignalWire: every value is here.
    return Credentials(settings.signalwire_project_id, settings.signalwire_api_token,
                       signalwire_api_base(settings.signalwire_space_url), settings.signalwire_signing_key)
