"""PROVIDER=telnyx: a half-configured Telnyx refuses to start, saying what to set."""

from __future__ import annotations

import pytest

from app.core.settings import load_settings
from sandbox import telnyx as sandbox_telnyx

PUBLIC_KEY = sandbox_telnyx.Signer(b"k" * 32).public_key
FULL = {"PROVIDER": "telnyx", "TELNYX_API_KEY": "KEY01", "TELNYX_ACCOUNT_SID": "5a5a5a5a-0000-4000-8000-5a5a5a5a5a5a",
        "TELNYX_TEXML_APP_ID": "2846281629469442048", "TELNYX_PUBLIC_KEY": PUBLIC_KEY,
        "PUBLIC_BASE_URL": "https://callback.example.com"}


def load(**env):
    return load_settings({k: v for k, v in {**FULL, **env}.items() if v is not None}, env_file=None)


def test_a_complete_telnyx_configuration_starts():
    settings = load(TELNYX_API_BASE="https://api.telnyx.com/v2/")
    assert settings.provider_name == "telnyx" and not settings.uses_sandbox
    assert settings.telnyx_api_base == "https://api.telnyx.com/v2"
    assert load(TELNYX_API_BASE=None).telnyx_api_base == "https://api.telnyx.com/v2"


@pytest.mark.parametrize("missing", ["TELNYX_API_KEY", "TELNYX_ACCOUNT_SID", "TELNYX_TEXML_APP_ID", "TELNYX_PUBLIC_KEY"])
def test_each_missing_variable_is_named(missing):
    with pytest.raises(SystemExit, match=f"PROVIDER=telnyx needs {missing}"):
        load(**{missing: None})


@pytest.mark.parametrize("key", ["not base64!", "c2hvcnQ=", PUBLIC_KEY + "AAAA"])
def test_a_public_key_that_is_not_ed25519_is_refused(key):
    with pytest.raises(SystemExit, match="TELNYX_PUBLIC_KEY must be the base64 Ed25519 public key"):
        load(TELNYX_PUBLIC_KEY=key)


def test_public_base_url_is_required_and_unknown_providers_refused():
    with pytest.raises(SystemExit, match="PUBLIC_BASE_URL is required with PROVIDER=telnyx"):
        load(PUBLIC_BASE_URL=None)
    with pytest.raises(SystemExit, match="PROVIDER must be"):
        load(PROVIDER="plivo")
