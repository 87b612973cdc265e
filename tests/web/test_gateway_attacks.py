"""Attacks on `/sms/gateway`: huge and deeply nested bodies, wrong secrets.

The huge bodies are streamed through httpx's ASGI transport, which hands the app
one chunk at a time as the app asks for it (Starlette's TestClient would join
the whole body first), so the test can count how much the handler read.
"""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from app.providers.signatures import MAX_BODY
from app.data.tables import sms_messages
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import BASE, PlatformUnderTest

CHUNK = 16 * 1024
CHUNKS = 20_000  # 320 MB if it were all read


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        yield platform


@pytest.fixture
def gateway_secret(p, capsys):
    assert p.cli("gateway", "add", "office-phone") == 0
    return capsys.readouterr().out.strip().rsplit(" ", 1)[-1]


def stored_texts(p: PlatformUnderTest) -> int:
    return p.scalar(sa.select(sa.func.count()).select_from(sms_messages))


async def _stream_post(app, *, first: bytes, filler: bytes, headers: dict[str, str]):
    """POST `first` then filler chunks (no Content-Length); (response, chunks the app pulled)."""
    pulled = 0

    async def body():
        nonlocal pulled
        pulled += 1
        yield first
        for _ in range(CHUNKS):
            pulled += 1
            yield filler

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        response = await client.post("/sms/gateway", content=body(), headers=headers)
    return response, pulled


@pytest.mark.parametrize("kind", ["json", "form", "form-secret-in-body"])
def test_an_oversized_streamed_body_gets_413_without_being_read_whole(p, gateway_secret, kind):
    if kind == "json":
        headers = {"Content-Type": "application/json", "X-Gateway-Secret": gateway_secret}
        first, filler = b'{"from": "' + sc.ALICE_MOBILE.encode() + b'", "text": "', b"x" * CHUNK
    else:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if kind == "form":
            headers["X-Gateway-Secret"] = gateway_secret
        first, filler = f"secret={gateway_secret}&from=%2B14155550101&text=".encode(), b"x" * CHUNK
    response, pulled = p.run(_stream_post, p.app, first=first, filler=filler, headers=headers)
    assert response.status_code == 413
    assert response.json()["payload"]["success"] is False
    # It stopped at the limit: a chunk or two past 64 KiB, not 320 MB.
    assert pulled <= MAX_BODY // CHUNK + 3
    assert stored_texts(p) == 0 and p.requests() == []


def test_a_wrong_header_secret_is_refused_before_the_body_is_read(p, gateway_secret):
    headers = {"Content-Type": "application/json", "X-Gateway-Secret": "not-the-secret"}
    response, pulled = p.run(_stream_post, p.app, first=b"{", filler=b" " * CHUNK, headers=headers)
    assert response.status_code == 403
    assert pulled <= 1  # at most the first chunk was offered; nothing was buffered
    assert stored_texts(p) == 0


@pytest.mark.parametrize("opening", [b"[", b'{"a":', b'{"from":"x","text":['])
def test_deeply_nested_json_gets_400_not_500(p, gateway_secret, opening):
    deep = opening * 100_000
    response = p.client.post("/sms/gateway", content=deep,
                             headers={"Content-Type": "application/json", "X-Gateway-Secret": gateway_secret})
    assert response.status_code == 400
    assert "nested" in response.json()["error"]["message"]
    assert stored_texts(p) == 0


def test_nesting_inside_strings_is_only_text(p, gateway_secret):
    text = 'BAL' + ' ' * 10 + '[[[[[[[[[[{{{{{{{{{{ \\"[[[['
    response = p.client.post("/sms/gateway", json={"from": sc.ALICE_MOBILE, "text": text, "id": "n-1"},
                             headers={"X-Gateway-Secret": gateway_secret})
    assert response.status_code == 200  # not refused as nested: the brackets are inside a string


@pytest.mark.parametrize("where", ["header", "bearer", "query", "json-body", "form-body"])
def test_a_wrong_secret_gets_403_and_writes_no_row(p, gateway_secret, where):
    payload = {"from": sc.ALICE_MOBILE, "text": "CALL", "id": "w-1"}
    wrong = gateway_secret[:-1] + ("A" if gateway_secret[-1] != "A" else "B")
    if where == "header":
        response = p.client.post("/sms/gateway", json=payload, headers={"X-Gateway-Secret": wrong})
    elif where == "bearer":
        response = p.client.post("/sms/gateway", json=payload, headers={"Authorization": f"Bearer {wrong}"})
    elif where == "query":
        response = p.client.post("/sms/gateway", json=payload, params={"secret": wrong})
    elif where == "json-body":
        response = p.client.post("/sms/gateway", json={**payload, "secret": wrong})
    else:
        response = p.client.post("/sms/gateway", data={**payload, "secret": wrong})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert stored_texts(p) == 0 and p.requests() == []
    # A wrong header secret is not rescued by a right one in the body.
    both = p.client.post("/sms/gateway", json={**payload, "secret": gateway_secret},
                         headers={"X-Gateway-Secret": wrong})
    assert both.status_code == 403 and stored_texts(p) == 0


# Credentials in texts are never stored ------------------------------------------------


def database_text(p: PlatformUnderTest) -> str:
    """Every value in every table, as one string to search."""
    from app.data.tables import metadata

    with p.engine.connect() as c:
        return "\n".join(repr(tuple(row)) for table in metadata.sorted_tables
                         for row in c.execute(sa.select(table)))


SECRET_TEXTS = [
    f"PIN {sc.ALICE_PIN} CALL +442071234567",
    f"pin,{sc.ALICE_PIN},bal",
    f"PIN#{sc.ALICE_PIN}#CALL",
    f"Pin:{sc.ALICE_PIN}",
    "U.alice P.alice-password BAL",
    "u:alice, p: alice-password CALL +442071234567",
    "U.alice P.alice-password R.+14155550155",
]


def test_pins_and_passwords_in_texts_are_stored_redacted(p, gateway_secret):
    for n, body in enumerate(SECRET_TEXTS):
        response = p.post("/twilio/sms", tw.sms_params(From=sc.STRANGER, To=sc.PIN_NUMBER, Body=body,
                                                       MessageSid=f"SM{n:032d}"))
        assert response.status_code == 200
        response = p.client.post("/sms/gateway", data={"from": sc.BOB_MOBILE, "message": body, "secret": gateway_secret,
                                                       "sent_timestamp": str(1764126000 + n)})
        assert response.status_code == 200 and response.json()["payload"]["success"] is True
        response = p.client.post("/sms/gateway", json={"from": sc.BOB_MOBILE, "text": body, "id": f"j-{n}"},
                                 headers={"X-Gateway-Secret": gateway_secret})
        assert response.status_code == 200
    with p.engine.connect() as c:
        stored = [row.body for row in c.execute(sa.select(sms_messages.c.body)
                                                .where(sms_messages.c.direction == "in"))]
    assert len(stored) == 3 * len(SECRET_TEXTS)
    assert all("***" in body for body in stored)
    # The commands still worked: the texts were acted on before they were stored redacted.
    assert p.requests()
    everything = database_text(p)
    assert sc.ALICE_PIN not in everything and "alice-password" not in everything
