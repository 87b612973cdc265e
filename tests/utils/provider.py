"""The provider's REST API in tests: vcrpy cassettes, and a check of what the app sends.

The cassettes in tests/cassettes hold responses shaped as Twilio's (their shape
is validated against Twilio's OpenAPI description in test_cassettes.py). The
matcher below fails the playback unless each create-call request carries what
Twilio requires of it, and keeps the requests for the test to assert on.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import vcr

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
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
