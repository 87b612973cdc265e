"""Provider selection: one registry builds each provider's adapter and its webhook check."""

from __future__ import annotations

import pytest

from app.core.settings import PROVIDERS, Settings
from app.providers import registry
from app.providers.signatures import SignalWireSignatures, TwilioSignatures
from tests.utils import signalwire as sw
from tests.utils import twilio as tw

SETTINGS = Settings(twilio_account_sid=tw.ACCOUNT_SID, twilio_auth_token=tw.AUTH_TOKEN,
                    signalwire_space_url="example.signalwire.com", signalwire_project_id=sw.PROJECT_ID,
                    signalwire_api_token=sw.API_TOKEN, signalwire_signing_key=sw.SIGNING_KEY,
                    public_base_url="https://callback.example.com")


@pytest.mark.parametrize("name, verifier, api_base, key", [
    ("twilio", TwilioSignatures, "https://api.twilio.com", tw.AUTH_TOKEN),
    ("signalwire", SignalWireSignatures, "https://example.signalwire.com/api/laml", sw.SIGNING_KEY),
])
async def test_each_provider_has_its_adapter_and_its_signature_check(name, verifier, api_base, key):
    adapter = registry.build(name, SETTINGS.with_(provider=name))
    try:
        assert adapter.name == adapter.provider.name == name
        assert isinstance(adapter.verifier, verifier) and adapter.credentials.api_base == api_base
        assert adapter.verifier.validator.token == key.encode()  # what signs its webhooks
    finally:
        await adapter.provider.aclose()


def test_every_provider_name_but_the_sandbox_is_in_the_registry_or_refused_clearly():
    for name in PROVIDERS:
        if name == "sandbox" or name in registry.ADAPTERS:
            continue
        with pytest.raises(SystemExit, match=f"PROVIDER={name}: no such provider in this build"):
            registry.build(name, SETTINGS.with_(provider=name))
