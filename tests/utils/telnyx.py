"""Telnyx in tests: the platform configured for a carrier in the Telnyx dialect, signed posts, the API subset."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import jsonschema

from app.core.settings import Settings
from sandbox import telnyx as sandbox_telnyx

API_KEY = "KEY0123456789ABCDEF_sandbox"
SPECS = Path(__file__).resolve().parents[1] / "providers" / "specs"


def configure(settings: Settings, carrier, carrier_url: str) -> Settings:
    """PROVIDER=telnyx pointed at the carrier: its API under /v2, its account and application, its public key."""
    return settings.with_(provider="telnyx", telnyx_api_key=carrier.auth_token, telnyx_api_base=carrier_url + "/v2",
                          telnyx_account_sid=carrier.account_sid, telnyx_texml_app_id=carrier.application_id,
                          telnyx_public_key=carrier.public_key)


def settings_for(settings: Settings, signer: sandbox_telnyx.Signer, *, api_base: str = "http://127.0.0.1:9/v2",
                 public_base_url: str = "http://testserver") -> Settings:
    return settings.with_(provider="telnyx", telnyx_api_key=API_KEY, telnyx_api_base=api_base,
                          telnyx_account_sid=sandbox_telnyx.DEFAULT_ACCOUNT_ID,
                          telnyx_texml_app_id=sandbox_telnyx.DEFAULT_APPLICATION_ID,
                          telnyx_public_key=signer.public_key, public_base_url=public_base_url)


def signed_form(signer: sandbox_telnyx.Signer, params: dict[str, str], *, now: float | None = None):
    """(body, headers) of a TeXML webhook as Telnyx posts it."""
    body = urlencode(params).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded", **signer.headers(body, now=now)}


def signed_json(signer: sandbox_telnyx.Signer, payload: dict, *, now: float | None = None):
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", **signer.headers(body, now=now)}


def spec(name: str) -> dict:
    return json.loads((SPECS / name).read_text())


def check_requests(api_log) -> list[str]:
    """Validate each request the carrier received against the Telnyx subset in tests/providers/specs; their paths."""
    calls = spec("telnyx_texml_calls.json")["operations"]
    messaging = spec("telnyx_messaging.json")["operations"]
    paths = []
    for path, body in api_log:
        if path.endswith("/Calls"):
            jsonschema.validate(body, calls["InitiateTexmlCall"]["request"])
        elif "/Calls/" in path:
            jsonschema.validate(body, calls["UpdateTexmlCall"]["request"])
        elif path.endswith("/messages"):
            jsonschema.validate(body, messaging["SendMessage"]["request"])
        else:
            raise AssertionError(f"a request to {path}, outside the Telnyx subset the platform relies on")
        paths.append(path)
    return paths
