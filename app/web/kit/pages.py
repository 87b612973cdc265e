"""The page base both sides share: session, sign-in check, CSRF on POST, form reading, templates, errors.

A side (the portal, the admin pages) is declared once as a `Side`: its cookie
scheme, its login and home paths, its words ("log in" or "sign in"), its
error template and what its templates are given. `Side.page(...)` then wraps
a handler `(page) -> Response`: it loads the session and who is signed in,
turns away visitors who are not (to the login page, or 401 for JSON and
event-stream endpoints), reads a POST's form and refuses it without the
session's CSRF token, and writes the session cookie back with the headers
every page gets.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from app.core import money
from app.platform import Platform
from app.providers.signatures import read_form
from app.web import uploads
from app.web.kit import csrf
from app.web.kit.sessions import CookieScheme, Session, harden

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[3] / "templates"))
templates.env.filters["amount"] = lambda minor, currency: money.format_amount(minor or 0, currency)
templates.env.filters["price"] = lambda micros: money.format_price(micros or 0)
templates.env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""

UNREADABLE = "The form could not be read."
EXPIRED_FORM = "This form has expired or did not come from this site. Reload the page and try again."


@dataclass
class Page:
    """One request of one side: the session, who is signed in (if anyone), the submitted form and files."""

    request: Request
    session: Session
    user: object | None
    side: Side
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, uploads.Upload] = field(default_factory=dict)
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
        context.update(csrf=self.session.csrf, csrf_field=csrf.FIELD, nonce=self.nonce, root=self.root,
                       **self.side.context(self))
        context.setdefault("active", "")
        return templates.TemplateResponse(self.request, template, context, status_code=status)

    def error(self, status: int, title: str, message: str) -> Response:
        return self.render(self.side.error_template, status=status, title=title, message=message)


@dataclass(frozen=True)
class Side:
    scheme: CookieScheme
    page_class: type[Page]
    home: str  # where a signed-in visitor lands: "/" or "/admin"
    login_path: str
    log_in: str  # the words for signing in on this side: "log in" or "sign in"
    error_template: str
    context: Callable[[Page], dict]  # what every template of this side is given (who, the navigation)
    safe_next: Callable[[str | None], str]  # a local path to go back to after signing in
    unreadable: dict[int, str]  # why a form was refused, by status ({mb}: the body's bound)
    too_many_parts: str = UNREADABLE

    def page(self, *, login: bool = True, api: bool = False, upload: bool = False,
             max_body: int = uploads.MAX_BODY):
        """Wrap a handler `(page) -> Response`; `upload=True` pages also take multipart bodies up to `max_body`."""

        def wrap(handler):
            @functools.wraps(handler)
            async def endpoint(request: Request) -> Response:
                session = self.scheme.load(request)
                page = self.page_class(request, session, await self.scheme.user_of(request.app.state.platform,
                                                                                    session), self)
                response = (await self._refusal(page, login=login, api=api, upload=upload, max_body=max_body)
                            or await handler(page))
                return self.scheme.save(request, harden(response, page.nonce), page.session)

            return endpoint

        return wrap

    async def _refusal(self, page: Page, *, login: bool, api: bool, upload: bool, max_body: int) -> Response | None:
        """Why this visit may not reach its handler (not signed in, an unreadable form, no CSRF token), else None."""
        request = page.request
        if login and page.user is None:
            if api:
                return JSONResponse({"error": {"code": "unauthorized", "message": f"{self.log_in} first"}},
                                    status_code=401)
            if request.method == "GET":
                path = request.url.path[len(page.root):] + (f"?{request.url.query}" if request.url.query else "")
                return page.redirect(self.login_path + ("" if path == self.home else f"?next={quote(path)}"))
            return page.error(403, "Session expired", f"Your session has ended. {self.log_in.capitalize()} again.")
        if request.method == "POST":
            try:
                # Multipart only where a file is expected, parsed as it streams in with its limits; every other
                # form (logging in above all) is URL-encoded and bounded (app/providers/signatures.py), anything
                # else refused with 415 before a byte of it is parsed.
                if upload and uploads.is_multipart(request):
                    form, page.files = await uploads.read_multipart(request, max_body)
                else:
                    form = await read_form(request)
            except uploads.TooManyParts as exc:
                return page.error(exc.status_code, "Form refused", self.too_many_parts)
            except HTTPException as exc:
                message = self.unreadable.get(exc.status_code, UNREADABLE).format(mb=max_body // 1024 // 1024)
                return page.error(exc.status_code, "Form refused", message)
            # PostgreSQL refuses NUL characters outright; nothing typed into a form needs one.
            page.form = {name: value.replace("\x00", "") for name, value in form.items()}
            if not page.session.csrf_ok(page.form.get(csrf.FIELD)):
                return page.error(403, "Form refused", EXPIRED_FORM)
        return None
