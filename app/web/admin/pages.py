"""What every admin page shares: the web kit's page (app/web/kit/pages.py) on the operator's side."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from app.data.db import storable
from app.web import uploads
from app.web.admin import sessions as admin_sessions
from app.web.kit.pages import Page, Side

NAV = [("summary", "/admin", "Summary"), ("live", "/admin/live", "Live calls"), ("cdrs", "/admin/cdrs", "CDRs"),
       ("accounts", "/admin/accounts", "Accounts"), ("resellers", "/admin/resellers", "Resellers"),
       ("numbers", "/admin/numbers", "Numbers"),
       ("rates", "/admin/rates", "Rates"), ("providers", "/admin/providers", "Providers"),
       ("policy", "/admin/policy", "Policy"),
       ("vouchers", "/admin/vouchers", "Vouchers"), ("lockouts", "/admin/lockouts", "Lockouts"),
       ("alarms", "/admin/alarms", "Alarms"), ("prompts", "/admin/prompts", "Prompts"), ("widgets", "/admin/widgets", "Widgets")]


@dataclass
class Desk(Page):
    """One request of an operator: the session, the signed-in operator, the submitted form and files."""

    @property
    def operator(self):
        return self.user

    @property
    def actor(self) -> str:
        return f"operator:{self.operator['login']}"

    def query(self, name: str, limit: int = 64) -> str:
        return storable(self.request.query_params.get(name, ""), limit * 4).strip()[:limit]

    def field(self, name: str, limit: int = 255) -> str:
        return self.form.get(name, "").strip()[:limit]

    def not_found(self, what: str) -> Response:
        return self.error(404, "Not found", f"There is no such {what}.")


def _context(desk: Desk) -> dict:
    return dict(operator=desk.operator, nav=NAV if desk.operator is not None else [])


def safe_next(target: str | None) -> str:
    """A path under /admin to return to after signing in; anything else is the summary."""
    if not target or not target.startswith("/admin") or "//" in target or "\\" in target:
        return "/admin"
    if any(ord(ch) < 33 for ch in target):
        return "/admin"
    return target


ADMIN = Side(scheme=admin_sessions.SCHEME, page_class=Desk, home="/admin", login_path="/admin/login",
             log_in="sign in", error_template="admin/error.html", context=_context, safe_next=safe_next,
             unreadable={413: "The form is too large: an upload may be up to {mb} MB.",
                         415: "The form was not sent the way a browser sends one."},
             too_many_parts=f"The form has too many fields (an upload form has at most {uploads.MAX_PARTS}).")


def admin_page(*, login: bool = True, api: bool = False, upload: bool = False, max_body: int = uploads.MAX_BODY):
    """Wrap a handler `(desk) -> Response` (see Side.page); `upload=True` pages take multipart bodies too."""
    return ADMIN.page(login=login, api=api, upload=upload, max_body=max_body)
