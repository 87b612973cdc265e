"""What every admin page shares: the operator's session, CSRF checks, templates, errors, headers."""

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

from app.web.admin import sessions as admin_sessions
from app.data import login_sessions
from app.core import money
from app.web import uploads, sessions as web_sessions
from app.web.admin.sessions import OperatorSession
from app.data.db import storable
from app.platform import Platform
from app.providers.signatures import read_form

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[3] / "templates"))
templates.env.filters["amount"] = lambda minor, currency: money.format_amount(minor or 0, currency)
templates.env.filters["price"] = lambda micros: money.format_price(micros or 0)
templates.env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""

UNREADABLE = {413: "The form is too large: an upload may be up to {mb} MB.",
              415: "The form was not sent the way a browser sends one."}
TOO_MANY_PARTS = f"The form has too many fields (an upload form has at most {uploads.MAX_PARTS})."
NAV = [("summary", "/admin", "Summary"), ("live", "/admin/live", "Live calls"), ("cdrs", "/admin/cdrs", "CDRs"),
       ("accounts", "/admin/accounts", "Accounts"), ("numbers", "/admin/numbers", "Numbers"),
       ("rates", "/admin/rates", "Rates"), ("policy", "/admin/policy", "Policy"),
       ("lockouts", "/admin/lockouts", "Lockouts"), ("prompts", "/admin/prompts", "Prompts")]


@dataclass
class Desk:
    """One request of an operator: the session, the signed-in operator, the submitted form and files."""

    request: Request
    session: OperatorSession
    operator: object | None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, uploads.Upload] = field(default_factory=dict)
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def p(self) -> Platform:
        return self.request.app.state.platform

    @property
    def root(self) -> str:
        return self.request.scope.get("root_path", "")

    @property
    def actor(self) -> str:
        return f"operator:{self.operator['login']}"

    def query(self, name: str, limit: int = 64) -> str:
        return storable(self.request.query_params.get(name, ""), limit * 4).strip()[:limit]

    def field(self, name: str, limit: int = 255) -> str:
        return self.form.get(name, "").strip()[:limit]

    def redirect(self, path: str) -> RedirectResponse:
        return RedirectResponse(self.root + path, status_code=303)

    def render(self, template: str, status: int = 200, **context) -> Response:
        context.update(operator=self.operator, csrf=self.session.csrf, csrf_field=admin_sessions.CSRF_FIELD,
                       nonce=self.nonce, root=self.root, nav=NAV if self.operator is not None else [])
        context.setdefault("active", "")
        return templates.TemplateResponse(self.request, template, context, status_code=status)

    def error(self, status: int, title: str, message: str) -> Response:
        return self.render("admin/error.html", status=status, title=title, message=message)

    def not_found(self, what: str) -> Response:
        return self.error(404, "Not found", f"There is no such {what}.")


async def _operator_of(p: Platform, session: OperatorSession):
    """The session's operator, unless the session ended (signed out), the operator is gone, or their password
    changed since the session began."""
    if session.operator is None:
        return None
    operator = await login_sessions.operator_of(p.db, token=session.token, login=session.operator)
    if operator is None or web_sessions.password_fingerprint(operator["password_hash"]) != session.password:
        admin_sessions.forget(session)
        return None
    return operator


async def _refusal(desk: Desk, *, login: bool, api: bool, upload: bool, max_body: int) -> Response | None:
    request = desk.request
    if login and desk.operator is None:
        if api:
            return JSONResponse({"error": {"code": "unauthorized", "message": "sign in first"}}, status_code=401)
        if request.method == "GET":
            path = request.url.path[len(desk.root):] + (f"?{request.url.query}" if request.url.query else "")
            return desk.redirect("/admin/login" + ("" if path == "/admin" else f"?next={quote(path)}"))
        return desk.error(403, "Session expired", "Your session has ended. Sign in again.")
    if request.method == "POST":
        try:
            # Multipart only where a file is expected, parsed as it streams in with its limits; every
            # other form (signing in above all) is URL-encoded, refused with 415 before a byte is parsed.
            if upload and uploads.is_multipart(request):
                form, desk.files = await uploads.read_multipart(request, max_body)
            else:
                form = await read_form(request)
        except uploads.TooManyParts as exc:
            return desk.error(exc.status_code, "Form refused", TOO_MANY_PARTS)
        except HTTPException as exc:
            message = UNREADABLE.get(exc.status_code, "The form could not be read.").format(mb=max_body // 1024 // 1024)
            return desk.error(exc.status_code, "Form refused", message)
        # PostgreSQL refuses NUL characters outright; nothing typed into a form needs one.
        desk.form = {name: value.replace("\x00", "") for name, value in form.items()}
        if not desk.session.csrf_ok(desk.form.get(admin_sessions.CSRF_FIELD)):
            return desk.error(403, "Form refused", "This form has expired or did not come from this site. "
                                                   "Reload the page and try again.")
    return None


def admin_page(*, login: bool = True, api: bool = False, upload: bool = False, max_body: int = uploads.MAX_BODY):
    """Wrap a handler `(desk) -> Response`.

    Loads the operator's session; sends visitors who are not signed in to the
    login page (401 JSON for `api=True` endpoints); on POST reads the form
    (URL-encoded; multipart too on `upload=True` pages) and refuses it without
    the session's CSRF token; writes the session cookie back. `max_body` bounds an upload's body.
    """

    def wrap(handler):
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = admin_sessions.load(request)
            desk = Desk(request, session, await _operator_of(request.app.state.platform, session))
            response = await _refusal(desk, login=login, api=api, upload=upload, max_body=max_body) or await handler(desk)
            return admin_sessions.save(request, web_sessions.harden(response, desk.nonce), desk.session)

        return endpoint

    return wrap


def safe_next(target: str | None) -> str:
    """A path under /admin to return to after signing in; anything else is the summary."""
    if not target or not target.startswith("/admin") or "//" in target or "\\" in target:
        return "/admin"
    if any(ord(ch) < 33 for ch in target):
        return "/admin"
    return target
