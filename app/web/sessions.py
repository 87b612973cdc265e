"""Portal sessions: a signed, expiring cookie, and the CSRF token every form carries.

Starlette's SessionMiddleware wants its key when the app is built, but the
secret key is only known once the database is reached (it may be generated
and stored there), so the cookie is signed here with `itsdangerous` using the
key resolved at startup. The cookie holds the account id, the CSRF token, a
fingerprint of the password hash (so changing the password ends every other
session) and the session's token, whose row (app/data/login_sessions.py) must
still exist: logging out deletes it, so a copy of the cookie opens nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.data import login_sessions
from app.core import security

COOKIE = "cbp_session"
MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"


@dataclass
class Session:
    account_id: int | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    password: str = ""  # fingerprint of the password hash the session was opened with
    token: str = ""  # names the server-side row (app/data/login_sessions.py) that keeps the session alive
    changed: bool = False  # must be written back to the cookie

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and security.same_secret(self.csrf, str(submitted))


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="portal-session")


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def load(request: Request) -> Session:
    """The request's session, or a fresh anonymous one (written back with the response)."""
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(request.app.state.platform.secret_key).loads(raw, max_age=MAX_AGE_SECONDS)
        except BadSignature:  # tampered, or expired (SignatureExpired is a BadSignature)
            data = None
        if isinstance(data, dict) and isinstance(data.get("c"), str):
            account_id = data.get("a")
            return Session(account_id=account_id if isinstance(account_id, int) else None, csrf=data["c"],
                           password=str(data.get("p", "")), token=str(data.get("s", "")))
    return Session(changed=True)


async def log_in(p, session: Session, account) -> None:
    # A new CSRF token and a new session row at login: nothing planted before login is worth anything after it.
    await login_sessions.close(p.db, token=session.token)
    session.token = await login_sessions.open_session(p.db, account_id=account["id"],
                                                      lifetime=dt.timedelta(seconds=MAX_AGE_SECONDS))
    session.account_id = account["id"]
    session.password = password_fingerprint(account["password_hash"])
    renew_csrf(session)


def renew_csrf(session: Session) -> None:
    session.csrf = secrets.token_urlsafe(24)
    session.changed = True


async def log_out(p, session: Session) -> None:
    await login_sessions.close(p.db, token=session.token)
    forget(session)


def forget(session: Session) -> None:
    """Make the session anonymous (its server-side row is gone already, or never was)."""
    session.account_id = None
    session.password = ""
    session.token = ""
    renew_csrf(session)


def is_secure(request: Request) -> bool:
    public = request.app.state.platform.settings.public_base_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def save(request: Request, response: Response, session: Session) -> Response:
    if session.changed:
        value = _serializer(request.app.state.platform.secret_key).dumps(
            {"a": session.account_id, "c": session.csrf, "p": session.password, "s": session.token}
        )
        response.set_cookie(COOKIE, value, max_age=MAX_AGE_SECONDS, path="/", httponly=True, samesite="lax",
                            secure=is_secure(request))
    return response


def harden(response: Response, nonce: str) -> Response:
    """Headers every signed-in page gets, portal and admin alike.

    The pages show balances and numbers: never cached, never framed, and no
    script runs but the page's own (by its nonce).
    """
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    return response
