"""Top-ups by a payment system: `POST /api/v1/accounts/{login}/topups` with a `topup`-scoped token.

A payment system retries what it is not sure went through, so a top-up needs an `Idempotency-Key`:
the key is taken (app/data/idempotency.py) in the transaction that credits the balance and queues the
operator webhook's `balance.changed`, and the answer is stored with it. A retry with the same key
gets that answer again (200, `Idempotent-Replayed: true`) and credits nothing, even when the two
arrive at once; the same key with a different body is a 409.

An operator's token (`token create --operator --scope topup`) tops up any account; an account's own
token with the scope, only its account (any other login is a 404, as if it did not exist).
"""

from __future__ import annotations

import hashlib
import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.calls import topups
from app.core import money
from app.data import accounts, idempotency
from app.data.db import utcnow
from app.web import api

REFERENCE_LENGTH = 64


class _Replay(Exception):
    """The key was taken by a concurrent twin: undo this transaction and give that one's answer."""


def _body_hash(request: Request, body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.url.path}\n{canonical}".encode()).hexdigest()


def _replay(stored, request_hash: str) -> Response:
    if stored["request_hash"] != request_hash:
        raise api.ApiError(409, "idempotency_conflict", "that Idempotency-Key was used for a different request")
    return Response(stored["response"], status_code=200, media_type="application/json",
                    headers={"Idempotent-Replayed": "true"})


async def create_topup(request: Request, who: api.Caller) -> Response:
    api.require(who, "topup")
    p = request.app.state.platform
    login = request.path_params["login"]
    account = await accounts.get_account_by_login(p.db, login=login) if len(login) <= 64 else None
    if account is None or (who.account is not None and who.account["id"] != account["id"]):
        raise api.ApiError(404, "not_found", "no such account")
    key = request.headers.get("idempotency-key")
    if key is None:
        raise api.ApiError(400, "idempotency_key_required", "a top-up needs an Idempotency-Key header, so that a "
                                                            "retry cannot credit twice")
    if not api.IDEMPOTENCY_KEY.fullmatch(key):
        raise api.ApiError(400, "invalid_idempotency_key", "an Idempotency-Key is 1 to 50 visible ASCII characters")
    raw = await api.json_object(request)
    body = api.string_fields(raw, required={"amount", "currency"}, optional={"reference"},
                             max_length=REFERENCE_LENGTH)
    request_hash = _body_hash(request, raw)
    stored = await idempotency.recall(p.db, token_id=who.token_id, key=key)
    if stored is not None:
        return _replay(stored, request_hash)
    if body["currency"].upper() != account["currency"]:
        raise api.ApiError(422, "currency_mismatch", f"the account is in {account['currency']}")
    try:
        amount = money.parse_amount(body["amount"], account["currency"])
    except money.MoneyError as exc:
        raise api.ApiError(422, "invalid_amount", str(exc)) from None
    if amount <= 0:
        raise api.ApiError(422, "invalid_amount", "a top-up is a positive amount")
    reference = body.get("reference")
    actor = f"api:{who.name or who.token_id}"
    try:
        async with p.db.transaction():
            taken = await idempotency.claim(p.db, token_id=who.token_id, key=key, request_hash=request_hash)
            if taken is None:
                raise _Replay
            balance = await topups.change_balance(p.db, p.settings, account=account, amount=amount, actor=actor,
                                                  note=f"top-up {reference or key}", reference=reference)
            view = {"login": account["login"], "amount": money.format_amount(amount, account["currency"]),
                    "currency": account["currency"], "balance": money.format_amount(balance, account["currency"]),
                    "balance_minor": balance, "reference": reference, "idempotency_key": key,
                    "created_at": utcnow().isoformat(timespec="seconds") + "Z"}
            text = json.dumps(view, separators=(",", ":"))
            await idempotency.answer(p.db, id=taken, status=201, response=text)
    except _Replay:
        return _replay(await idempotency.recall(p.db, token_id=who.token_id, key=key), request_hash)
    p.operator_events_ready.set()
    return Response(text, status_code=201, media_type="application/json")


routes = [
    Route(api.PREFIX + "/accounts/{login}/topups", api.resource({"POST": create_topup}, auth=api.caller),
          methods=api.METHODS),
]
