"""Operator sessions for the admin pages: the portal's signed session, under its own cookie and salt.

The session object and its CSRF check are the portal's (`app.web.sessions`);
only the cookie differs. Its name, its salt and its path are the admin's own,
so a subscriber's cookie never opens /admin (it is not even read there, and
copied into the admin cookie its signature does not verify), and an
operator's cookie is never sent to the portal. Its token names a row of
app/data/login_sessions.py, as the portal's does: signing out ends it server-side.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.data import login_sessions
from app.web import sessions as web_sessions

COOKIE = "cbp_admin"
SALT = "admin-session"
PATH = "/admin"
MAX_AGE_SECONDS = 8 * 3600
CSRF_FIELD = web_sessions.CSRF_FIELD


@dataclass
class OperatorSession(web_sessions.Session):
    """A portal session that names an operator (by login) instead of an account."""

    operator: str | None = None


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def load(request: Request) -> OperatorSession:
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(request.app.state.platform.secret_key).loads(raw, max_age=MAX_AGE_SECONDS)
        except BadSignature:  # tampered, expired, or signed for something else
            data = None
        if isinstance(data, dict) and isinstance(data.get("c"), str):
            operator = data.get("o")
            return OperatorSession(operator=operator if isinstance(operator, str) else None, csrf=data["c"],
                                   password=str(data.get("p", "")), token=str(data.get("s", "")))
    return OperatorSession(changed=True)


async def log_in(p, session: OperatorSession, operator) -> None:
    await login_sessions.close(p.db, token=session.token)
    session.token = await login_sessions.open_session(p.db, operator_id=operator["id"],
                                                      lifetime=dt.timedelta(seconds=MAX_AGE_SECONDS))
    session.operator = operator["login"]
    session.password = web_sessions.password_fingerprint(operator["password_hash"])
    web_sessions.renew_csrf(session)


async def log_out(p, session: OperatorSession) -> None:
    await login_sessions.close(p.db, token=session.token)
    forget(session)


def forget(session: OperatorSession) -> None:
    session.operator = None
    web_sessions.forget(session)


def save(request: Request, response: Response, session: OperatorSession) -> Response:
    if session.changed:
        value = _serializer(request.app.state.platform.secret_key).dumps(
            {"o": session.operator, "c": session.csrf, "p": session.password, "s": session.token})
        root = request.scope.get("root_path", "")
        response.set_cookie(COOKIE, value, max_age=MAX_AGE_SECONDS, path=root + PATH, httponly=True,
                            samesite="strict", secure=web_sessions.is_secure(request))
    return response
