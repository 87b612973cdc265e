"""Shared pieces of the sandbox tests: identities, schema checks, a stand-in platform."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token"
SERVICE_NUMBER = "+18005550100"
SUBSCRIBER = "+15550001111"
CALLEE = "+442071234567"

SPEC_PATH = Path(__file__).resolve().parents[2] / ".." / "shared" / "twilio" / "api_v2010_calls_messages.json"

# Twilio documents its error body but the OpenAPI file has no schema for it.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer"},
    },
}
RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000$")


def _nullable(node):
    """OpenAPI 3.0 `nullable: true` becomes a JSON Schema type union with null."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "$ref" in out:
            out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
    return out


class Spec:
    """Validators for the responses described by Twilio's OpenAPI file."""

    def __init__(self, document: dict) -> None:
        self.document = _nullable(document)
        self.registry = Registry().with_resource("urn:twilio", Resource(self.document, DRAFT202012))
        self.formats = FormatChecker(formats=())
        self.formats.checks("date-time-rfc-2822")(self._rfc2822)

    @staticmethod
    def _rfc2822(value) -> bool:
        if not isinstance(value, str):
            return True  # formats constrain strings only; null is the type's business
        if not RFC2822.match(value):
            return False
        parsedate_to_datetime(value)
        return True

    def validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": "urn:twilio#" + pointer}, registry=self.registry, format_checker=self.formats)

    def schema(self, name: str) -> dict:
        return self.document["components"]["schemas"][name]

    def resource(self, data: dict, name: str) -> None:
        """Valid against the named schema and carrying every one of its fields."""
        self.validator(f"/components/schemas/{name}").validate(data)
        assert set(data) == set(self.schema(name)["properties"])

    def response(self, data: dict, path: str, method: str, status: int) -> None:
        escaped = path.replace("~", "~0").replace("/", "~1")
        pointer = f"/paths/{escaped}/{method}/responses/{status}/content/application~1json/schema"
        self.validator(pointer).validate(data)
        item = {"Calls": "api.v2010.account.call", "Messages": "api.v2010.account.message"}[
            "Calls" if "/Calls" in path else "Messages"
        ]
        if "calls" in data or "messages" in data:
            for record in data.get("calls", data.get("messages")):
                self.resource(record, item)
        else:
            self.resource(data, item)

    def error(self, data: dict, status: int, code: int | None = None) -> None:
        Draft202012Validator(ERROR_SCHEMA).validate(data)
        assert data["status"] == status
        assert data["more_info"].endswith(str(data["code"]))
        if code is not None:
            assert data["code"] == code


class StubPlatform:
    """A stand-in application: checks X-Twilio-Signature, records requests, answers per path."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.handlers: dict[str, Callable[[dict], object] | str] = {}
        self.requests: list[tuple[str, dict]] = []
        self.bad_signatures: list[str] = []
        self.base_url = ""
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])

    def url(self, path: str) -> str:
        return self.base_url + path

    def on(self, path: str, answer) -> None:
        """`answer`: TwiML text, a Response, or a function of the request parameters returning either."""
        self.handlers[path] = answer

    def received(self, path: str) -> list[dict]:
        return [params for seen, params in self.requests if seen == path]

    async def _handle(self, request: Request) -> Response:
        if request.method == "POST":
            params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        else:
            params = {}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not self.validator.validate(str(request.url), params, signature):
            self.bad_signatures.append(str(request.url))
            return Response(status_code=403)
        if request.method == "GET":
            params = dict(request.query_params)
        self.requests.append((request.url.path, params))
        answer = self.handlers.get(request.url.path)
        if answer is None:
            return Response(status_code=404)
        if callable(answer):
            answer = answer(params)
        if isinstance(answer, Response):
            return answer
        return Response(answer, media_type="application/xml")
