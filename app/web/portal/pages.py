"""What every portal page shares: the web kit's page (app/web/kit/pages.py) on the subscriber's side."""

from __future__ import annotations

from dataclasses import dataclass

from app.core import money
from app.data import accounts
from app.web.kit.pages import Page, Side
from app.web.portal import sessions as portal_sessions

NAV = [("dashboard", "/", "Dashboard"), ("history", "/history", "History"), ("phonebook", "/phonebook", "Phonebook"),
       ("balance", "/balance", "Balance"), ("recordings", "/recordings", "Recordings"), ("settings", "/settings", "Settings"),
       ("api", "/api/v1/docs", "API")]


@dataclass
class Visit(Page):
    """One request of a subscriber: the session, the logged-in account (if any), the submitted form."""

    @property
    def account(self):
        return self.user

    @account.setter
    def account(self, account) -> None:
        self.user = account

    async def reload_account(self) -> None:
        self.account = await accounts.get_account(self.p.db, account_id=self.account["id"])


def _context(visit: Visit) -> dict:
    account = visit.account
    return dict(account=account, nav=NAV if account is not None else [],
                balance=money.format_amount(account["balance"], account["currency"]) if account is not None else None)


def safe_next(target: str | None) -> str:
    """A local path to go back to after logging in; anything else (other sites, odd schemes) is the dashboard."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 33 for ch in target):
        return "/"
    return target


PORTAL = Side(scheme=portal_sessions.SCHEME, page_class=Visit, home="/", login_path="/login", log_in="log in",
              error_template="portal/error.html", context=_context, safe_next=safe_next,
              unreadable={400: "The form could not be read.", 413: "The form is too large.",
                          415: "The form was not sent the way a browser sends one."})


def portal_page(*, login: bool = True, api: bool = False):
    """Wrap a handler `(visit) -> Response` (see Side.page): the portal takes URL-encoded forms only."""
    return PORTAL.page(login=login, api=api)
