"""The provider's REST API in tests: vcrpy cassettes, and a check of what the app sends.

The cassettes in tests/cassettes hold responses shaped as Twilio's (their shape
is validated against Twilio's OpenAPI description in test_cassettes.py). The
matcher below fails the playback unless each create-call request carries what
Twilio requires of it, and keeps the requests for the test to assert on.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from urllib.parse import parse_qs

import jsonschema
import vcr

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
# Twilio's OpenAPI description of Calls and Messages, kept beside the repository (or beside its worktrees).
_ROOT = Path(__file__).resolve().parents[2]
SPEC = next((path for path in (folder / "shared" / "twilio" / "api_v2010_calls_messages.json"
                               for folder in (_ROOT.parent, _ROOT.parent.parent)) if path.is_file()),
            _ROOT.parent / "shared" / "twilio" / "api_v2010_calls_messages.json")
REQUIRED_CREATE_CALL = {"To", "From", "Url", "Method", "StatusCallback", "StatusCallbackEvent",
                        "StatusCallbackMethod", "Timeout"}
KNOWN_CREATE_CALL = REQUIRED_CREATE_CALL | {"TimeLimit", "MachineDetection", "CallerId"}


def form_of(request) -> dict[str, list[str]]:
    body = request.body or b""
    if isinstance(body, dict):  # vcrpy's aiohttp stub keeps the form as given to the client
        return {key: [str(v) for v in (value if isinstance(value, list) else [value])] for key, value in body.items()}
    if isinstance(body, bytes):
        body = body.decode()
    return parse_qs(body, keep_blank_values=True)


@functools.cache
def _create_call_schema() -> dict | None:
    if not SPEC.is_file():
        return None
    paths = json.loads(SPEC.read_text())["paths"]
    (calls,) = [item for path, item in paths.items() if path.endswith("/Calls.json")]
    schema = calls["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    return dict(schema, additionalProperties=False)


def check_create_call_form(form: dict[str, list[str]]) -> None:
    """Fail unless the form of a create-call request validates against Twilio's OpenAPI description of it."""
    schema = _create_call_schema()
    if schema is None:
        return  # the description is not beside the repository: test_cassettes.py says so
    typed = {}
    for key, values in form.items():
        kind = schema["properties"].get(key, {}).get("type", "string")
        if kind == "array":
            typed[key] = values
            continue
        assert len(values) == 1, f"create call with {key} given {len(values)} times"
        value = values[0]
        if kind == "integer":
            assert value.lstrip("-").isdigit(), f"create call with {key}={value!r}, not an integer"
            value = int(value)
        elif kind == "boolean":
            assert value in ("true", "false"), f"create call with {key}={value!r}, not a boolean"
            value = value == "true"
        typed[key] = value
    jsonschema.validate(typed, schema)


class TwilioRecorder:
    def __init__(self):
        self.sent: list[dict[str, list[str]]] = []
        self._seen: set[str] = set()
        self._cassette = None

    def create_call_matcher(self, r1, r2):
        actual = r1 if r1.body else r2
        form = form_of(actual)
        missing = REQUIRED_CREATE_CALL - form.keys()
        unknown = form.keys() - KNOWN_CREATE_CALL
        assert not missing, f"create call without {sorted(missing)}"
        assert not unknown, f"create call with parameters Twilio does not know: {sorted(unknown)}"
        check_create_call_form(form)
        key = repr(sorted(form.items()))
        if key not in self._seen:  # vcrpy asks the matcher several times per request
            self._seen.add(key)
            self.sent.append(form)

    @property
    def played(self) -> int:
        """How many provider responses were played: the number of requests the app made."""
        return self._cassette.play_count

    def cassette(self, name: str):
        recorder = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="none",
                           match_on=["method", "scheme", "host", "path", "create_call"])
        recorder.register_matcher("create_call", self.create_call_matcher)
        return _Use(self, recorder.use_cassette(name))


class _Use:
    def __init__(self, recorder: TwilioRecorder, context):
        self.recorder, self.context = recorder, context

    def __enter__(self):
        self.recorder._cassette = self.context.__enter__()
        return self.recorder._cassette

    def __exit__(self, *exc):
        return self.context.__exit__(*exc)
