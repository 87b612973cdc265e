"""The web kit's cookie schemes and CSRF token as plain units (the pages themselves: test_portal, test_admin)."""

from __future__ import annotations

from types import SimpleNamespace

from itsdangerous import URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.web.admin.sessions import SCHEME as ADMIN
from app.web.kit import csrf
from app.web.kit.sessions import Session
from app.web.portal.sessions import SCHEME as PORTAL

SECRET = "kit-test-secret"


def request_with(cookie: str | None = None, scheme: str = "http", root_path: str = "") -> Request:
    platform = SimpleNamespace(secret_key=SECRET, settings=SimpleNamespace(public_base_url=""))
    app = SimpleNamespace(state=SimpleNamespace(platform=platform))
    headers = [(b"cookie", cookie.encode())] if cookie else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b"",
                    "scheme": scheme, "server": ("testserver", 80), "root_path": root_path, "app": app})


def saved(side, session: Session, **request) -> str:
    response = side.save(request_with(**request), Response(), session)
    return response.headers["set-cookie"]


def test_a_session_round_trips_through_its_own_cookie_only():
    for scheme, who in ((PORTAL, 7), (ADMIN, "root")):
        session = Session(who=who, password="fp", token="tok", changed=True)
        header = saved(scheme, session)
        value = header.split(";")[0].split("=", 1)[1]
        loaded = scheme.load(request_with(f"{scheme.cookie}={value}"))
        assert (loaded.who, loaded.csrf, loaded.password, loaded.token, loaded.changed) == (
            who, session.csrf, "fp", "tok", False)
        other = ADMIN if scheme is PORTAL else PORTAL
        assert other.load(request_with(f"{other.cookie}={value}")).who is None  # another salt: not verified


def test_the_cookie_attributes_of_each_side():
    portal = saved(PORTAL, Session(changed=True), root_path="/cb")
    assert "Path=/;" in portal and "SameSite=lax" in portal and "HttpOnly" in portal and "Secure" not in portal
    admin = saved(ADMIN, Session(changed=True), root_path="/cb", scheme="https")
    assert "Path=/cb/admin" in admin and "SameSite=strict" in admin and "Secure" in admin
    assert "set-cookie" not in PORTAL.save(request_with(), Response(), Session(changed=False)).headers


def test_a_signed_cookie_naming_the_wrong_kind_of_user_names_nobody():
    forged = URLSafeTimedSerializer(SECRET, salt=PORTAL.salt).dumps({"a": "root", "c": "x", "p": "", "s": ""})
    assert PORTAL.load(request_with(f"{PORTAL.cookie}={forged}")).who is None
    forged = URLSafeTimedSerializer(SECRET, salt=ADMIN.salt).dumps({"o": 1, "c": "x", "p": "", "s": ""})
    assert ADMIN.load(request_with(f"{ADMIN.cookie}={forged}")).who is None


def test_forgetting_a_session_renews_its_csrf_token():
    session = Session(who=3, password="fp", token="tok")
    before = session.csrf
    session.forget()
    assert (session.who, session.password, session.token, session.changed) == (None, "", "", True)
    assert session.csrf != before and session.csrf_ok(session.csrf) and not session.csrf_ok(before)
    assert not csrf.matches("token", None) and not csrf.matches("token", "") and csrf.matches("token", "token")
