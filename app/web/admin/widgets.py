"""Admin pages for the click-to-call website widgets: list, create, edit, disable, and the embed snippet."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.responses import Response

from app.data import accounts, widgets
from app.fraud.widget_guard import MAX_BITS, MIN_BITS
from app.core.numbers import ascii_int
from app.web.admin import forms
from app.web.admin.pages import Desk, admin_page

VERIFICATIONS = {"code": "a code texted to the visitor", "pow": "a proof-of-work in the browser",
                 "both": "a proof-of-work, then a texted code"}
DONE = {"created": "The widget was created: copy its snippet into the site.", "saved": "The widget was saved.",
        "enabled": "The widget is enabled.", "disabled": "The widget is disabled: its form stops working."}
MAX_ORIGINS = 20
MAX_LIMIT = 10_000


def allowed_origins(raw: str) -> str:
    """One web origin a line (https://shop.example.com, http://localhost:8080), normalized; FormError else."""
    found = []
    for line in (item.strip() for item in raw.replace(",", "\n").splitlines()):
        if not line:
            continue
        parts = urlsplit(line.rstrip("/"))
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query
                or parts.fragment or parts.username or parts.password or port == -1 or not line.isascii()
                or any(ch.isspace() for ch in line)):
            raise forms.FormError(f"{line[:80]} is not a web origin such as https://shop.example.com.")
        found.append(f"{parts.scheme}://{parts.netloc.lower()}")
    if not found:
        raise forms.FormError("Give at least one origin (the site the widget is on), such as https://shop.example.com.")
    if len(found) > MAX_ORIGINS:
        raise forms.FormError(f"At most {MAX_ORIGINS} origins.")
    return "\n".join(dict.fromkeys(found))


def _whole(raw: str, what: str, low: int, high: int) -> int:
    value = ascii_int(raw.strip())
    if value is None or not low <= value <= high:
        raise forms.FormError(f"{what} is a whole number from {low} to {high}.")
    return value


async def _values(desk: Desk) -> tuple[dict, dict]:
    """The widget form: the raw values (to show again) and the checked ones. Raises FormError."""
    raw = {name: desk.field(name, 4000 if name == "allowed_origins" else 64)
           for name in ("name", "account", "destination", "allowed_origins", "verification", "pow_bits",
                        "ip_hourly_limit", "number_daily_limit")}
    if not raw["name"] or not raw["name"].isprintable():
        raise forms.FormError("Give the widget a name (1 to 64 characters).")
    account = await accounts.get_account_by_login(desk.p.db, login=raw["account"])
    if account is None:
        raise forms.FormError(f"There is no account with login {raw['account'][:64]}.")
    if raw["verification"] not in VERIFICATIONS:
        raise forms.FormError("Choose how visitors are verified from the list.")
    checked = {
        "name": raw["name"], "account_id": account["id"],
        "destination": forms.phone_number(raw["destination"], account["country"], "The destination"),
        "allowed_origins": allowed_origins(raw["allowed_origins"]), "verification": raw["verification"],
        "pow_bits": _whole(raw["pow_bits"], "The proof-of-work difficulty", MIN_BITS, MAX_BITS),
        "ip_hourly_limit": _whole(raw["ip_hourly_limit"], "The limit per address", 1, MAX_LIMIT),
        "number_daily_limit": _whole(raw["number_daily_limit"], "The limit per number", 1, MAX_LIMIT),
    }
    return raw, checked


def snippet(desk: Desk, widget) -> str:
    base = (desk.p.settings.public_base_url or str(desk.request.base_url)).rstrip("/")
    return f'<script src="{base}/widget.js" data-key="{widget["public_key"]}" async></script>'


DEFAULTS = {"verification": "code", "pow_bits": "16", "ip_hourly_limit": "5", "number_daily_limit": "3"}


@admin_page()
async def widget_list(desk: Desk) -> Response:
    rows = await widgets.list_widgets(desk.p.db)
    return desk.render("admin/widgets.html", active="widgets", rows=rows, error=None, values=DEFAULTS,
                       verifications=VERIFICATIONS, done=DONE.get(desk.query("done")))


@admin_page()
async def create_widget(desk: Desk) -> Response:
    try:
        raw, checked = await _values(desk)
    except forms.FormError as exc:
        rows = await widgets.list_widgets(desk.p.db)
        return desk.render("admin/widgets.html", status=422, active="widgets", rows=rows, error=str(exc),
                           values={**DEFAULTS, **{k: desk.field(k, 4000) for k in desk.form}},
                           verifications=VERIFICATIONS, done=None)
    widget_id = await widgets.add_widget(desk.p.db, public_key=secrets.token_urlsafe(16), **checked)
    return desk.redirect(f"/admin/widgets/{widget_id}?done=created")


async def _widget_page(desk: Desk, widget, *, status: int = 200, error: str | None = None,
                       values: dict | None = None) -> Response:
    account = await accounts.get_account(desk.p.db, account_id=widget["account_id"])
    shown = values or {**dict(widget), "account": account["login"] if account else ""}
    return desk.render("admin/widget.html", status=status, active="widgets", widget=widget, values=shown,
                       error=error, verifications=VERIFICATIONS, snippet=snippet(desk, widget),
                       done=DONE.get(desk.query("done")))


def widget_action(handler):
    async def with_widget(desk: Desk) -> Response:
        widget = await widgets.get_widget(desk.p.db, widget_id=desk.request.path_params["widget_id"])
        if widget is None:
            return desk.not_found("widget")
        return await handler(desk, widget)

    with_widget.__name__ = handler.__name__
    return admin_page()(with_widget)


@widget_action
async def widget_page(desk: Desk, widget) -> Response:
    return await _widget_page(desk, widget)


@widget_action
async def save_widget(desk: Desk, widget) -> Response:
    try:
        _, checked = await _values(desk)
    except forms.FormError as exc:
        return await _widget_page(desk, widget, status=422, error=str(exc),
                                  values={k: desk.field(k, 4000) for k in desk.form})
    await widgets.update_widget(desk.p.db, widget_id=widget["id"], **checked)
    return desk.redirect(f"/admin/widgets/{widget['id']}?done=saved")


@widget_action
async def set_enabled(desk: Desk, widget) -> Response:
    enabled = desk.field("enabled", 8) == "yes"
    await widgets.update_widget(desk.p.db, widget_id=widget["id"], enabled=enabled)
    return desk.redirect(f"/admin/widgets/{widget['id']}?done={'enabled' if enabled else 'disabled'}")
