"""What every portal page shares: the session and account of a visit, CSRF checks, templates, errors."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from app.data import accounts, login_sessions
from app.core import money
from app.web import sessions as web_sessions
from app.platform import Platform
from app.providers.signatures import read_form
from app.web.sessions import Session

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[3] / "templates"))
templates.env.filters["amount"] = lambda minor, currency: money.format_amount(minor or 0, currency)

UNREADABLE = {400: "The form could not be read.", 413: "The form is too large.",
              415: "The form was not sent the way a browser sends one."}
NAV = [("dashboard", "/", "Dashboard"), ("history", "/history", "History"), ("settings", "/settings", "Settings"),
       ("api", "/api/v1/docs", "API")]


@dataclass
class Visit:
    """One request of a subscriber: the session, the logged-in account (if any), the submitted form."""

    request: Request
    session: Session
    account: object | None
    form: dict[str, str] = field(default_factory=dict)
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))  # for the page's inline script

    @property
    def p(self) -> Platform:
        return self.request.app.state.platform

    @property
    def root(self) -> str:
        return self.request.scope.get("root_path", "")

    def redirect(self, path: str) -> RedirectResponse:
        return RedirectResponse(self.root + path, status_code=303)

    def render(self, template: str, status: int = 200, **context) -> Response:
        account = self.account
        context.update(
            account=account,
            csrf=self.session.csrf,
            csrf_field=web_sessions.CSRF_FIELD,
            nonce=self.nonce,
            root=self.root,
            nav=NAV if account is not None else [],
            balance=money.format_amount(account["balance"], account["currency"]) if account is not None else None,
        )
        context.setdefault("active", "")
        return templates.TemplateResponse(self.request, template, context, status_code=status)

    def error(self, status: int, title: str, message: str) -> Response:
        return self.render("portal/error.html", status=status, title=title, message=message)

    async def reload_account(self) -> None:
        self.account = await accounts.get_account(self.p.db, account_id=self.account["id"])


async def _account_of(p: Platform, session: Session):
    """The session's account, unless the session ended (logged out), the account is gone, or its password
    changed since the session began."""
    if session.account_id is None:
        return None
    account = await login_sessions.account_of(p.db, token=session.token, account_id=session.account_id)
    if account is None or web_sessions.password_fingerprint(account["password_hash"]) != session.password:
        web_sessions.forget(session)
        return None
    return account


def safe_next(target: str | None) -> str:
    """A local path to go back to after logging in; anything else (other sites, odd schemes) is the dashboard."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 33 for ch in target):
        return "/"
    return target


async def _refusal(visit: Visit, *, login: bool, api: bool) -> Response | None:
    """Why this visit may not reach its handler (not logged in, no CSRF token), else None."""
    request = visit.request
    if login and visit.account is None:
        if api:
            return JSONResponse({"error": {"code": "unauthorized", "message": "log in first"}}, status_code=401)
        if request.method == "GET":
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return visit.redirect("/login" + ("" if path == "/" else f"?next={quote(path)}"))
        return visit.error(403, "Session expired", "Your session has ended. Log in again.")
    if request.method == "POST":
        # URL-encoded only, bounded in size and fields (app/providers/signatures.py): anything else, multipart above all,
        # is refused before a byte of it is parsed.
        try:
            visit.form = await read_form(request)
        except HTTPException as exc:
            return visit.error(exc.status_code, "Form refused", UNREADABLE.get(exc.status_code, UNREADABLE[400]))
        if not visit.session.csrf_ok(visit.form.get(web_sessions.CSRF_FIELD)):
            return visit.error(403, "Form refused", "This form has expired or did not come from this site. "
                                                    "Reload the page and try again.")
    return None


def portal_page(*, login: bool = True, api: bool = False):
    """Wrap a handler `(visit) -> Response`.

    Loads the session and account; sends visitors who are not logged in to
    the login page (or answers 401 for the JSON and event-stream endpoints,
    `api=True`); on POST reads the form and refuses it without the session's
    CSRF token; writes the session cookie back.
    """

    def wrap(handler):
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = web_sessions.load(request)
            visit = Visit(request, session, await _account_of(request.app.state.platform, session))
            response = await _refusal(visit, login=login, api=api) or await handler(visit)
            return web_sessions.save(request, web_sessions.harden(response, visit.nonce), visit.session)

        return endpoint

    return wrap
