"""The cassettes answer as Twilio would: every body validates against Twilio's OpenAPI schemas."""

from __future__ import annotations

import json
import jsonschema
import pytest
import yaml

from tests.utils.provider import CASSETTES, SPEC, check_create_call_form

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                   "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
                   "status": {"type": "integer"}},
}


def spec():
    if not SPEC.is_file():
        pytest.skip(f"Twilio's OpenAPI description is not beside the repository ({SPEC.name})")
    return json.loads(SPEC.read_text())


def nullable_to_jsonschema(node):
    """OpenAPI 3.0 says `nullable: true`; JSON Schema says type [..., 'null']."""
    if isinstance(node, dict):
        node = {key: nullable_to_jsonschema(value) for key, value in node.items()}
        if node.pop("nullable", False):
            if "type" in node:
                node["type"] = [node["type"], "null"]
            elif "$ref" in node:
                node = {"anyOf": [{"$ref": node["$ref"]}, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [nullable_to_jsonschema(item) for item in node]
    return node


def call_validator(document):
    document = nullable_to_jsonschema(document)
    schema = {"$ref": "#/components/schemas/api.v2010.account.call", "components": document["components"]}
    # Every property is required: Twilio always sends every key, null when unknown.
    call = document["components"]["schemas"]["api.v2010.account.call"]
    schema["components"]["schemas"]["api.v2010.account.call"] = dict(call, required=sorted(call["properties"]),
                                                                      additionalProperties=False)
    return jsonschema.Draft7Validator(schema)


CASSETTE_FILES = sorted(CASSETTES.glob("*.yaml"))


@pytest.mark.parametrize("path", CASSETTE_FILES, ids=[p.name for p in CASSETTE_FILES])
def test_cassette_bodies_match_twilios_schemas(path):
    validator = call_validator(spec())
    interactions = yaml.safe_load(path.read_text())["interactions"]
    assert interactions
    for interaction in interactions:
        status = interaction["response"]["status"]["code"]
        body = json.loads(interaction["response"]["body"]["string"])
        assert interaction["request"]["uri"].endswith("/Calls.json")
        if status == 201:
            validator.validate(body)
            assert body["sid"].startswith("CA") and len(body["sid"]) == 34
        else:
            jsonschema.validate(body, ERROR_SCHEMA)
            assert body["status"] == status


def test_the_schema_check_can_fail():
    validator = call_validator(spec())
    body = json.loads(yaml.safe_load((CASSETTES / "calls_create.yaml").read_text())["interactions"][0]
                      ["response"]["body"]["string"])
    body["status"] = "dialling"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(body)
    del body["uri"]
    body["status"] = "queued"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(body)


def test_create_call_requests_are_checked_against_twilios_description():
    spec()  # skips without it
    form = {"To": ["+14155550100"], "From": ["+18005550001"], "Url": ["https://app.example/legs/1/answer"],
            "Method": ["POST"], "StatusCallback": ["https://app.example/twilio/status"],
            "StatusCallbackEvent": ["initiated", "completed"], "StatusCallbackMethod": ["POST"],
            "Timeout": ["30"], "TimeLimit": ["300"]}
    check_create_call_form(form)
    for bad in ({"TimeLimit": ["five minutes"]}, {"Method": ["PUT"]}, {"Timeout": ["30", "40"]},
                {"LegTimeLimit": ["300"]}):
        with pytest.raises((AssertionError, jsonschema.ValidationError)):
            check_create_call_form(dict(form, **bad))
