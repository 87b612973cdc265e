"""A signed, expiring session cookie backed by a server-side login session; one scheme per side.

Starlette's SessionMiddleware wants its key when the app is built, but the
secret key is only known once the database is reached (it may be generated
and stored there), so the cookie is signed here with `itsdangerous` using the
key resolved at startup. The cookie holds who is signed in (an account id or
an operator login), the CSRF token, a fingerprint of the password hash (so
changing the password ends every other session) and the session's token,
whose row (app/data/login_sessions.py) must still exist: logging out deletes
it, so a copy of the cookie opens nothing.

Each side has its own cookie name, salt and path, so a cookie of one side is
not even read by the other, and copied into the other's cookie its signature
does not verify.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.data import login_sessions
from app.web.kit import csrf


@dataclass
class Session:
    who: int | str | None = None  # the account id (portal) or operator login (admin) signed in, if any
    csrf: str = field(default_factory=csrf.new_token)
    password: str = ""  # fingerprint of the password hash the session was opened with
    token: str = ""  # names the server-side row (app/data/login_sessions.py) that keeps the session alive
    changed: bool = False  # must be written back to the cookie

    def csrf_ok(self, submitted: str | None) -> bool:
        return csrf.matches(self.csrf, submitted)

    def renew_csrf(self) -> None:
        self.csrf = csrf.new_token()
        self.changed = True

    def forget(self) -> None:
        """Make the session anonymous (its server-side row is gone already, or never was)."""
        self.who = None
        self.password = ""
        self.token = ""
        self.renew_csrf()


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def is_secure(request: Request) -> bool:
    public = request.app.state.platform.settings.public_base_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


@dataclass(frozen=True)
class CookieScheme:
    """One side's cookie and what its session names: an account (portal) or an operator (admin)."""

    cookie: str
    salt: str
    max_age_seconds: int
    samesite: str
    path: str
    path_under_root: bool  # the cookie's path is prefixed with the app's root path
    key: str  # the cookie field that names who is signed in
    kind: type  # int (an account id) or str (an operator login)
    owner_column: str  # login_sessions.open_session's keyword for the owner's row id
    identify: Callable[[object], int | str]  # the user row -> what the cookie names
    # (db, token, who) -> the user row while the server-side session lives, else None
    find: Callable[..., Awaitable[object | None]]

    def _serializer(self, request: Request) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(request.app.state.platform.secret_key, salt=self.salt)

    def load(self, request: Request) -> Session:
        """The request's session, or a fresh anonymous one (written back with the response)."""
        raw = request.cookies.get(self.cookie)
        if raw:
            try:
                data = self._serializer(request).loads(raw, max_age=self.max_age_seconds)
            except BadSignature:  # tampered, expired (SignatureExpired is a BadSignature), or signed for elsewhere
                data = None
            if isinstance(data, dict) and isinstance(data.get("c"), str):
                who = data.get(self.key)
                return Session(who=who if isinstance(who, self.kind) and not isinstance(who, bool) else None,
                               csrf=data["c"], password=str(data.get("p", "")), token=str(data.get("s", "")))
        return Session(changed=True)

    def save(self, request: Request, response: Response, session: Session) -> Response:
        if session.changed:
            value = self._serializer(request).dumps(
                {self.key: session.who, "c": session.csrf, "p": session.password, "s": session.token})
            path = request.scope.get("root_path", "") + self.path if self.path_under_root else self.path
            response.set_cookie(self.cookie, value, max_age=self.max_age_seconds, path=path, httponly=True,
                                samesite=self.samesite, secure=is_secure(request))
        return response

    async def user_of(self, p, session: Session):
        """The session's user, unless the session ended (logged out), the user is gone, or their password
        changed since the session began."""
        if session.who is None:
            return None
        user = await self.find(p.db, token=session.token, who=session.who)
        if user is None or password_fingerprint(user["password_hash"]) != session.password:
            session.forget()
            return None
        return user

    async def log_in(self, p, session: Session, user) -> None:
        # A new CSRF token and a new session row at login: nothing planted before login is worth anything after.
        await login_sessions.close(p.db, token=session.token)
        session.token = await login_sessions.open_session(
            p.db, **{self.owner_column: user["id"]}, lifetime=dt.timedelta(seconds=self.max_age_seconds))
        session.who = self.identify(user)
        session.password = password_fingerprint(user["password_hash"])
        session.renew_csrf()

    async def log_out(self, p, session: Session) -> None:
        await login_sessions.close(p.db, token=session.token)
        session.forget()


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
