"""The reseller's side of the web kit: its page (`Counter`), and its sign-in."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from app.data import resellers
from app.web import uploads
from app.web.kit import signin as kit_signin
from app.web.kit.pages import Page, Side
from app.web.reseller import sessions


@dataclass
class Counter(Page):
    """One request of a reseller: the signed-in reseller and the submitted form."""

    @property
    def reseller(self):
        return self.user

    @property
    def actor(self) -> str:
        return f"reseller:{self.reseller['login']}"

    def field(self, name: str, limit: int = 255) -> str:
        return self.form.get(name, "").strip()[:limit]

    def not_found(self) -> Response:
        return self.error(404, "Not found", "There is no such account among yours.")


def _context(counter: Counter) -> dict:
    return dict(reseller=counter.reseller)


def safe_next(target: str | None) -> str:
    if not target or not target.startswith("/reseller") or "//" in target or "\\" in target:
        return "/reseller"
    if any(ord(ch) < 33 for ch in target):
        return "/reseller"
    return target


RESELLER = Side(scheme=sessions.SCHEME, page_class=Counter, home="/reseller", login_path="/reseller/login",
                log_in="sign in", error_template="reseller/error.html", context=_context, safe_next=safe_next,
                unreadable={413: "The form is too large.", 415: "The form was not sent the way a browser sends one."},
                too_many_parts=f"The form has too many fields (at most {uploads.MAX_PARTS}).")


async def _nobody(login: str, db):
    return None  # looked up only once the attempt is counted, by resellers.authenticate


# Counted apart from the portal's and the admin's sign-ins: one side's lockout never locks another.
RESELLERS = kit_signin.UserKind(
    channel="reseller", template="reseller/login.html", named=_nobody,
    counted_as=lambda login, reseller: {"name": f"reseller:{login}"},
    check=lambda db, login, password, reseller: resellers.authenticate(db, login=login, password=password))
