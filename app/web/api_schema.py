"""The REST API's OpenAPI 3.1 document, as plain data.

Served at /api/v1/openapi.json and rendered at /api/v1/docs; the tests check
that its paths are exactly the app's routes and fuzz the app against it.
"""

from __future__ import annotations

import copy

PREFIX = "/api/v1"
MAX_ID = 2**31 - 1


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(description: str, schema: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}
    if headers:
        response["headers"] = headers
    return response


NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}
AMOUNT = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "description": "a decimal amount, e.g. \"0.02\""}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "machine-readable, e.g. `insufficient_funds`"},
                    "message": {"type": "string", "description": "for people"},
                },
            }
        },
    },
    "NewCallback": {
        "type": "object",
        "required": ["to"],
        "additionalProperties": False,
        "properties": {
            "to": {"type": "string", "format": "phone", "minLength": 1, "maxLength": 40,
                   "description": "the second party (leg B): E.164 (+14155550123), 00-prefixed or national"},
            "from": {"type": ["string", "null"], "format": "phone", "maxLength": 40,
                     "description": "the phone called first (leg A); default: the account's default number"},
            "at": {"type": ["string", "null"], "format": "date-time", "maxLength": 40,
                   "description": "schedule it: an RFC 3339 time with its offset (`2026-12-24T18:30:00+01:00`), "
                                  "ahead of now and at most 30 days ahead; default: now"},
        },
    },
    "Leg": {
        "type": "object",
        "required": ["leg", "number", "status", "started_at", "answered_at", "ended_at", "duration_seconds",
                     "billed_seconds", "price_per_minute", "cost", "cost_minor"],
        "properties": {
            "leg": {"type": "string", "enum": ["a", "b"], "description": "a: the callback, b: the second party"},
            "number": NULLABLE_STRING,
            "status": {"type": "string", "description": "the provider's call status (ringing, in-progress, completed...)"},
            "started_at": {"type": "string", "format": "date-time"},
            "answered_at": {"type": ["string", "null"], "format": "date-time"},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "duration_seconds": NULLABLE_INT,
            "billed_seconds": NULLABLE_INT,
            "price_per_minute": NULLABLE_STRING,
            "cost": {"type": ["string", "null"], "description": "in the account's currency, once the leg has ended"},
            "cost_minor": NULLABLE_INT,
            "provider": {"type": ["string", "null"], "description": "the provider that placed the leg (PROVIDERS)"},
        },
    },
    "Callback": {
        "type": "object",
        "required": ["id", "state", "reason", "from", "to", "trigger", "scheduled_at", "created_at", "updated_at",
                     "terminal",
                     "leg_a", "leg_b", "legs", "cost", "cost_minor", "currency"],
        "properties": {
            "id": {"type": "integer"},
            "state": {"type": "string",
                      "enum": ["queued", "calling_a", "a_answered", "calling_b", "connected", "completed", "failed"]},
            "reason": {"type": ["string", "null"], "description": "why it failed: a_busy, b_no_answer, canceled..."},
            "from": NULLABLE_STRING,
            "to": NULLABLE_STRING,
            "trigger": {"type": "string", "description": "how it was asked for: api, web, sms, voice"},
            "scheduled_at": {"type": ["string", "null"], "format": "date-time",
                             "description": "the time it was scheduled for (UTC); null: placed as soon as asked"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "terminal": {"type": "boolean", "description": "completed or failed: the state will not change again"},
            "leg_a": {"type": "string", "enum": ["waiting", "ringing", "answered", "connected", "ended", "not called"]},
            "leg_b": {"type": "string", "enum": ["waiting", "ringing", "answered", "connected", "ended", "not called"]},
            "legs": {"type": "array", "items": _ref("Leg")},
            "cost": AMOUNT,
            "cost_minor": {"type": "integer", "description": "the cost in minor units (cents)"},
            "currency": {"type": "string", "minLength": 3, "maxLength": 3},
            "provider": {"type": ["string", "null"],
                         "description": "the provider leg A is placed with (null until it is routed)"},
        },
    },
    "CallbackList": {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": _ref("Callback")},
            "next_cursor": {"type": ["string", "null"], "description": "pass as `cursor` for the next (older) page"},
        },
    },
    "Account": {
        "type": "object",
        "required": ["login", "status", "balance", "balance_minor", "currency", "country", "language",
                     "default_number", "anis"],
        "properties": {
            "login": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "blocked"]},
            "balance": AMOUNT,
            "balance_minor": {"type": "integer"},
            "currency": {"type": "string"},
            "country": {"type": "string"},
            "language": {"type": "string"},
            "default_number": NULLABLE_STRING,
            "anis": {"type": "array", "items": {"type": "string"}, "description": "registered caller IDs"},
        },
    },
    "VoucherCode": {
        "type": "object",
        "required": ["code"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "minLength": 1, "maxLength": 40,
                     "description": "the voucher's 14 digits; spaces and dashes are ignored"},
        },
    },
    "Redemption": {
        "type": "object",
        "required": ["amount", "amount_minor", "balance", "balance_minor", "currency"],
        "properties": {
            "amount": AMOUNT,
            "amount_minor": {"type": "integer", "description": "the voucher's value in minor units"},
            "balance": AMOUNT,
            "balance_minor": {"type": "integer", "description": "the new balance in minor units"},
            "currency": {"type": "string"},
        },
    },
    "NewPhonebookEntry": {
        "type": "object",
        "required": ["name", "number"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 64, "description": "shown in the portal"},
            "number": {"type": "string", "format": "phone", "minLength": 1, "maxLength": 40},
            "code": {"type": ["string", "null"], "pattern": "^[0-9]{1,2}$",
                     "description": "speed-dial code, 1 or 2 digits, unique in the account: `*<code>#` at the "
                                    "IVR's destination prompt dials this entry; null: none"},
        },
    },
    "PhonebookEntry": {
        "type": "object",
        "required": ["id", "name", "number", "code", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "number": {"type": "string", "description": "E.164"},
            "code": NULLABLE_STRING,
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "Phonebook": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": _ref("PhonebookEntry")}},
    },
    "Rate": {
        "type": "object",
        "required": ["number", "prefix", "price_per_minute", "price_per_minute_micros", "currency",
                     "first_increment", "next_increment"],
        "properties": {
            "number": {"type": "string", "description": "the number, in E.164"},
            "prefix": {"type": "string", "description": "the longest matching prefix of the rate table"},
            "price_per_minute": AMOUNT,
            "price_per_minute_micros": {"type": "integer", "description": "millionths of the currency unit"},
            "currency": {"type": "string"},
            "first_increment": {"type": "integer", "description": "seconds billed at least"},
            "next_increment": {"type": "integer", "description": "then billed by steps of this many seconds"},
        },
    },
    "NewTopup": {
        "type": "object",
        "required": ["amount", "currency"],
        "additionalProperties": False,
        "properties": {
            "amount": {**AMOUNT, "maxLength": 64, "description": "positive, in the account's currency, e.g. \"10.00\""},
            "currency": {"type": "string", "minLength": 1, "maxLength": 64,
                         "description": "the account's currency (ISO 4217), checked"},
            "reference": {"type": ["string", "null"], "maxLength": 64,
                          "description": "the payment system's own reference, kept in the balance history"},
        },
    },
    "Topup": {
        "type": "object",
        "required": ["login", "amount", "currency", "balance", "balance_minor", "reference", "idempotency_key",
                     "created_at"],
        "properties": {
            "login": {"type": "string"},
            "amount": AMOUNT,
            "currency": {"type": "string"},
            "balance": AMOUNT,
            "balance_minor": {"type": "integer"},
            "reference": NULLABLE_STRING,
            "idempotency_key": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
}

CALLBACK_ID = {"name": "id", "in": "path", "required": True, "description": "the callback's id",
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "makes retries safe: the same key (per account) returns the callback it created the first time",
    "schema": {"type": "string", "pattern": r"^[!-~]{1,50}$"},
}
ENTRY_ID = {"name": "id", "in": "path", "required": True, "description": "the entry's id",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
ENTRY_NOT_FOUND = _error("no such entry in this account's phonebook")
ENTRY_BODY = {"required": True, "content": {"application/json": {"schema": _ref("NewPhonebookEntry")}}}
ENTRY_REFUSED = {
    "400": _error("malformed JSON"),
    "413": _error("the body is larger than 8 KiB"),
    "415": _error("the body is not application/json"),
    "422": _error("`invalid_number`, or a body that does not match NewPhonebookEntry"),
}
LOCATION = {"Location": {"description": "the callback's URL", "schema": {"type": "string"}}}

UNAUTHORIZED = _error("no token, or a revoked or unknown one (changing the password revokes an account's tokens)")
BLOCKED = _error("`auth_failed`: the token's account is blocked")
NOT_FOUND = _error("no such callback in this account")


def _operation(operation_id: str, summary: str, responses: dict, **extra) -> dict:
    responses = {"401": UNAUTHORIZED, "403": BLOCKED, **responses}
    return {"operationId": operation_id, "summary": summary, "responses": responses, **extra}


PATHS = {
    "/callbacks": {
        "post": _operation(
            "createCallback", "Start a callback: call `from`, then connect `to`",
            {
                "201": _ok("queued", "Callback", LOCATION),
                "200": _ok("the callback this Idempotency-Key created before", "Callback", LOCATION),
                "400": _error("malformed JSON, or a bad Idempotency-Key"),
                "402": _error("`insufficient_funds`: the balance is too low"),
                "403": _error("`destination_blocked` or `auth_failed` (a blocked account)"),
                "409": _error("`idempotency_conflict`: the key was used for another callback; other refusals"),
                "413": _error("the body is larger than 8 KiB"),
                "415": _error("the body is not application/json"),
                "422": _error("`invalid_number`, `from_required`, `invalid_time` (malformed, past or more than "
                              "30 days ahead), or a body that does not match NewCallback"),
                "429": _error("`rate_limited`: too many callbacks (or 20 scheduled ones waiting); wait and try again"),
                "503": _error("`unavailable`: no service number to call from"),
            },
            description="Leg A (`from`) is called first; once it answers (and presses 1, if the account "
                        "confirms calls) leg B (`to`) is dialled and the two are connected. Both legs are billed. "
                        "With `at`, it is scheduled: checked now, placed at that time (the balance is checked "
                        "again then), listed with `?scheduled=true` until then, and canceled like any other.",
            parameters=[IDEMPOTENCY_KEY],
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("NewCallback")}}},
        ),
        "get": _operation(
            "listCallbacks", "List this account's callbacks, newest first",
            {"200": _ok("a page of callbacks", "CallbackList"),
             "400": _error("a bad `limit`, `cursor` or `scheduled`")},
            parameters=[
                {"name": "scheduled", "in": "query", "required": False,
                 "description": "`true`: only the scheduled callbacks still waiting for their time, soonest first, "
                                "all on one page",
                 "schema": {"type": "string", "enum": ["true", "false"]}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                {"name": "cursor", "in": "query", "required": False, "description": "`next_cursor` of the previous page",
                 "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"}},
            ],
        ),
    },
    "/callbacks/{id}": {
        "get": _operation("getCallback", "A callback: state, reason, legs and cost",
                          {"200": _ok("the callback", "Callback"), "404": NOT_FOUND},
                          parameters=[CALLBACK_ID]),
    },
    "/callbacks/{id}/cancel": {
        "post": _operation("cancelCallback", "Cancel a callback that has not ended; a live call is hung up",
                           {"200": _ok("canceled: failed with reason `canceled`", "Callback"), "404": NOT_FOUND,
                            "409": _error("`not_cancelable`: it has already ended")},
                           parameters=[CALLBACK_ID]),
    },
    "/account": {
        "get": _operation("getAccount", "The account of the token: balance, default number, caller IDs",
                          {"200": _ok("the account", "Account")}),
    },
    "/account/vouchers": {
        "post": _operation(
            "redeemVoucher", "Redeem a voucher: its value is added to the balance",
            {"200": _ok("credited", "Redemption"),
             "400": _error("malformed JSON"),
             "413": _error("the body is larger than 8 KiB"),
             "415": _error("the body is not application/json"),
             "422": _error("`voucher_invalid`: unknown, used, expired, disabled or of another currency (one answer "
                           "for all), or a body that does not match VoucherCode"),
             "429": _error("`voucher_locked`: ten wrong codes in the last hour; try again later")},
            description="A voucher credits an account of its own currency once. Wrong codes are counted: ten in "
                        "an hour lock redemption for the account.",
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("VoucherCode")}}},
        ),
    },
    "/accounts/{login}/topups": {
        "post": _operation(
            "createTopup", "Credit an account (a payment system's top-up); needs the `topup` scope",
            {
                "201": _ok("credited", "Topup"),
                "200": _ok("the top-up this Idempotency-Key made before (header `Idempotent-Replayed: true`); "
                           "nothing more is credited", "Topup"),
                "400": _error("`idempotency_key_required`, `invalid_idempotency_key`, or malformed JSON"),
                "403": _error("`insufficient_scope`: the token lacks `topup`; `auth_failed`: its account is blocked"),
                "404": _error("no such account (an account's own token sees only its account)"),
                "409": _error("`idempotency_conflict`: the key was used for a different top-up"),
                "413": _error("the body is larger than 8 KiB"),
                "415": _error("the body is not application/json"),
                "422": _error("`invalid_amount`, `currency_mismatch`, or a body that does not match NewTopup"),
            },
            description="Made by `callback-platform token create --operator --scope topup` (any account) or "
                        "`token create LOGIN --scope topup` (that account). Each top-up is in the balance history "
                        "and sent to the operator webhook as `balance.changed`.",
            parameters=[
                {"name": "login", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}},
                {**IDEMPOTENCY_KEY, "required": True,
                 "description": "required: a retry with the same key (per token) gets the first answer and "
                                "credits once"},
            ],
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("NewTopup")}}},
        ),
    },
    "/rates": {
        "get": _operation(
            "getRate", "The price per minute of calls to a number",
            {"200": _ok("the rate", "Rate"), "400": _error("`missing_parameter`: no `number`"),
             "404": _error("`no_rate`: calls to that number are not available"),
             "422": _error("`invalid_number`")},
            parameters=[{"name": "number", "in": "query", "required": True,
                         "schema": {"type": "string", "format": "phone", "minLength": 1, "maxLength": 40}}],
        ),
    },
}

PATHS["/phonebook"] = {
    "get": _operation("listPhonebook", "The account's phonebook, by name",
                      {"200": _ok("every entry", "Phonebook")}),
    "post": _operation(
        "createPhonebookEntry", "Add a phonebook entry, with a speed-dial code if given",
        {"201": _ok("added", "PhonebookEntry", LOCATION), **ENTRY_REFUSED,
         "409": _error("`code_taken`: another entry has that code; `phonebook_full`: 100 entries already")},
        description="At the IVR's destination prompt, `*<code>#` dials the entry with that code and `**#` "
                    "redials the last number called; both are checked as a typed number is.",
        requestBody=ENTRY_BODY,
    ),
}
PATHS["/phonebook/{id}"] = {
    "get": _operation("getPhonebookEntry", "A phonebook entry", {"200": _ok("the entry", "PhonebookEntry"),
                                                                 "404": ENTRY_NOT_FOUND}, parameters=[ENTRY_ID]),
    "put": _operation("replacePhonebookEntry", "Change a phonebook entry (every field)",
                      {"200": _ok("changed", "PhonebookEntry"), "404": ENTRY_NOT_FOUND, **ENTRY_REFUSED,
                       "409": _error("`code_taken`: another entry has that code")},
                      parameters=[ENTRY_ID], requestBody=ENTRY_BODY),
    "delete": _operation("deletePhonebookEntry", "Delete a phonebook entry",
                         {"204": {"description": "deleted"}, "404": ENTRY_NOT_FOUND}, parameters=[ENTRY_ID]),
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Callback platform API",
        "version": "1.0.0",
        "description": "Start and follow callbacks (\"connect two\" calls) for your account. Authenticate with "
                       "`Authorization: Bearer <token>`; make tokens in the portal's settings or with "
                       "`callback-platform token create LOGIN`. A token has scopes: `account` (this account's "
                       "callbacks, account and rates; every token made before scopes) and `topup` (top-ups by a "
                       "payment system). Errors are JSON: "
                       "`{\"error\": {\"code\": ..., \"message\": ...}}`. Request bodies are JSON objects; "
                       "unknown fields are refused (422), not ignored; unknown query parameters are ignored. "
                       "Strings of format `phone` are phone numbers: E.164 (`+14155550123`), 00-prefixed, or "
                       "national numbers of the account's country.",
    },
    "servers": [{"url": PREFIX}],
    "security": [{"bearerAuth": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        "schemas": SCHEMAS,
    },
}


def document(server_url: str = PREFIX) -> dict:
    doc = copy.deepcopy(DOCUMENT)
    doc["servers"] = [{"url": server_url}]
    return doc


def operations() -> list[dict]:
    """Every operation, for the docs page: method, path, summary, parameters, body fields, responses."""
    found = []
    for path, methods in PATHS.items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            body_schema = SCHEMAS[body["$ref"].rsplit("/", 1)[1]] if body else None
            found.append({
                "method": method.upper(),
                "path": PREFIX + path,
                "id": op["operationId"],
                "summary": op["summary"],
                "description": op.get("description", ""),
                "parameters": op.get("parameters", []),
                "body": [
                    {"name": name, "required": name in body_schema.get("required", []), **field}
                    for name, field in body_schema["properties"].items()
                ] if body_schema else [],
                "responses": sorted(
                    (status, response["description"],
                     response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                     .rsplit("/", 1)[-1])
                    for status, response in op["responses"].items()
                ),
            })
    return found
