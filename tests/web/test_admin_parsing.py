"""The admin pages read numbers people type or put in a URL: an absurd exponent or a Unicode digit
("²", "①", "٣") is a form message or the normal page, never a 500."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data import accounts
from app.data.tables import accounts as accounts_t, rates
from tests.utils.web import operator, web_platform

HUGE = ["1E+999999999", "-1E+999999999", "1E-999999999", "9E+9999999999999"]
UNICODE_DIGITS = ["²", "①", "٣", "１", "1²", "⁵"]


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine) as platform:
        yield platform


def alice(p):
    with p.engine.connect() as c:
        return c.execute(sa.select(accounts_t).where(accounts_t.c.login == "alice")).mappings().one()


def rate_rows(p):
    with p.engine.connect() as c:
        return c.execute(sa.select(rates).where(rates.c.tariff == "gold")).mappings().all()


@pytest.mark.parametrize("amount", HUGE)
def test_a_top_up_with_an_absurd_exponent_is_a_form_message(p, amount):
    admin = operator(p)
    before = alice(p)
    path = f"/admin/accounts/{before['id']}"
    admin.get(path)
    refused = admin.submit(path + "/topup", {"amount": amount, "note": "x"})
    assert refused.status_code == 422 and "is not an amount" in refused.text
    assert alice(p)["balance"] == before["balance"]


@pytest.mark.parametrize("price", HUGE)
def test_a_rate_with_an_absurd_exponent_is_a_form_message(p, price):
    admin = operator(p)
    admin.get("/admin/rates")
    refused = admin.submit("/admin/rates", {"tariff": "gold", "prefix": "33", "price": price,
                                            "increment": "60/60", "connection_fee": price})
    assert refused.status_code == 422 and "is not an amount" in refused.text
    assert rate_rows(p) == []


@pytest.mark.parametrize("price", HUGE)
def test_a_rate_import_with_an_absurd_exponent_imports_nothing(p, price):
    admin = operator(p)
    admin.get("/admin/rates")
    body = f"33,0.02\n34,{price}\n".encode()
    refused = admin.submit("/admin/rates/import", {"tariff": "gold"}, files={"file": ("r.csv", body, "text/csv")})
    assert refused.status_code == 422 and "Nothing was imported" in refused.text
    assert rate_rows(p) == []


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_unicode_digits_in_admin_urls_are_never_a_500(p, digit):
    admin = operator(p)
    for path in [f"/admin/rates?page={digit}", f"/admin/rates?done=imported&count={digit}",
                 f"/admin/accounts?page={digit}", f"/admin/live?canceled={digit}",
                 f"/admin/cdrs?before={digit}", f"/admin/cdrs?after={digit}"]:
        response = admin.get(path)
        assert response.status_code in (200, 404, 422), path


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_unicode_digits_in_admin_forms_are_never_a_500(p, digit):
    admin = operator(p)
    admin.get("/admin/lockouts")
    cleared = admin.submit("/admin/lockouts/clear", {"account_id": digit})
    assert cleared.status_code == 422 and "No such account." in cleared.text
    admin.get("/admin/policy")
    removed = admin.submit("/admin/policy/rules/remove", {"kind": "deny_prefix", "value": "44", "account_id": digit})
    assert removed.status_code == 422


def raw_post(p, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """POST with these exact header bytes (TestClient re-encodes a latin-1 header as UTF-8); the status sent."""
    sent = []

    async def call():
        scope = {"type": "http", "http_version": "1.1", "method": "POST", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "scheme": "http", "server": ("testserver", 80),
                 "client": ("127.0.0.1", 50000), "headers": [(b"host", b"testserver"), *headers]}
        chunks = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            return chunks.pop(0) if chunks else {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                sent.append(message["status"])
        try:
            await p.app(scope, receive, send)
        except Exception:
            sent.append(500)

    p.run(call)
    return max(sent)


@pytest.mark.parametrize("length", ["²", "³", "1¹"])
def test_a_unicode_content_length_is_never_a_500(p, length):
    declared = (b"content-length", length.encode("latin-1"))
    admin = operator(p)
    admin.get("/admin/rates")
    cookie = "; ".join(f"{name}={value}" for name, value in admin.cookies.items()).encode()
    form = b"--zz\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + admin.csrf.encode() + b"\r\n--zz--\r\n"
    assert raw_post(p, "/admin/rates/import", [(b"cookie", cookie), declared,
                                                (b"content-type", b"multipart/form-data; boundary=zz")], form) < 500
    assert raw_post(p, f"/admin/accounts/{alice(p)['id']}/topup",
                    [(b"cookie", cookie), declared, (b"content-type", b"application/x-www-form-urlencoded")],
                    b"csrf=" + admin.csrf.encode() + b"&amount=1") < 500
    token = p.run(accounts.create_token, p.platform.db, account_id=alice(p)["id"], name="")
    assert raw_post(p, "/api/v1/callbacks", [(b"authorization", f"Bearer {token}".encode()), declared,
                                             (b"content-type", b"application/json")], b"{}") < 500
    assert raw_post(p, "/twilio/voice", [(b"x-twilio-signature", b"x"), declared,
                                         (b"content-type", b"application/x-www-form-urlencoded")], b"a=b") < 500
