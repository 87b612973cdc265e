"""Signing in and out, for either side: the credentials checked through lockouts, the session rotated.

Every attempt is counted before it is checked (app/fraud/lockouts.py), per
source address and per user (or per name, when there is no such user, so a
lockout says nothing about which logins exist); a source that keeps failing
meets a growing backoff and then a lockout, answered 429 unchecked. A
successful sign-in opens a new server-side session with a new CSRF token;
signing out deletes that session, so a copy of the cookie opens nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response

from app.core import request_origin
from app.fraud import lockouts
from app.web.kit.pages import Page, Side

MAX_LOGIN = 64
MAX_PASSWORD = 1024


@dataclass(frozen=True)
class UserKind:
    """Who signs in on a side, and how their attempts are counted."""

    channel: str  # the lockouts channel, and the prefix of the source address ("web", "admin")
    template: str  # the login page
    # (login, db) -> the user row the attempt names, looked up before it is counted (or None)
    named: Callable[..., Awaitable[object | None]]
    # (login, user or None) -> lockouts.begin's account_id= / name= for the attempt
    counted_as: Callable[[str, object | None], dict]
    # (db, login, password, user or None) -> the user row when the password is right, else None
    check: Callable[..., Awaitable[object | None]]


def handlers(side: Side, kind: UserKind) -> tuple[Callable, Callable, Callable]:
    """The login page (GET), the login form (POST) and logout (POST) of `side`."""

    @side.page(login=False)
    async def login_page(page: Page) -> Response:
        target = side.safe_next(page.request.query_params.get("next"))
        if page.user is not None:
            return page.redirect(target)
        return page.render(kind.template, next=target)

    @side.page(login=False)
    async def login(page: Page) -> Response:
        db = page.p.db
        name = page.form.get("login", "").strip()[:MAX_LOGIN]
        password = page.form.get("password", "")[:MAX_PASSWORD]
        target = side.safe_next(page.form.get("next"))
        user = await kind.named(name, db) if name else None
        source = request_origin.client_address(page.request)
        attempt = await lockouts.begin(db, requester=f"{kind.channel}:{source}", channel=kind.channel,
                                       **kind.counted_as(name, user))
        if attempt is None:
            return page.render(kind.template, status=429, next=target, login=name,
                               error="Too many failed attempts. Try again later.")
        user = await kind.check(db, name, password, user)
        if user is None:
            return page.render(kind.template, status=401, next=target, login=name, error="Wrong login or password.")
        await lockouts.succeeded(db, attempt)
        await side.scheme.log_in(page.p, page.session, user)
        return page.redirect(target)

    @side.page()
    async def logout(page: Page) -> Response:
        await side.scheme.log_out(page.p, page.session)
        return page.redirect(side.login_path)

    return login_page, login, logout
