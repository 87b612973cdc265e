"""Admin pages for what calls cost and where they may go: rate tables (CSV in and out) and the destination policy."""

from __future__ import annotations

import csv
import re
from urllib.parse import urlencode

from starlette.responses import Response

from app.data import accounts, admin_queries, rates
from app.core import money
from app.core.numbers import ascii_int
from app.fraud import policy
from app.web.admin import forms as forms
from app.web.admin.pages import Desk, admin_page

PAGE_SIZE = 50
DONE = {"saved": "The rate was saved.", "imported": "{count} rates were imported."}
POLICY_DONE = {"added": "The rule was added.", "removed": "The rule was removed.", "limits": "The limits were saved."}
KIND_TEXT = {"allow_country": "only these countries", "allow_prefix": "only numbers starting with",
             "deny_prefix": "never numbers starting with", "allow_type": "allow this high-risk number type",
             "allow_range": "allow high-risk numbers starting with"}


def _done(desk: Desk) -> str | None:
    count = desk.query("count", 9)
    message = DONE.get(desk.query("done"))
    return message.format(count=ascii_int(count) if ascii_int(count) is not None else "The") if message else None


def _tariff(raw: str) -> str:
    try:
        return forms.tariff(raw or "default")
    except forms.FormError:
        return "default"


# Rates -------------------------------------------------------------------------


async def _rates(desk: Desk, *, tariff: str | None = None, status: int = 200, errors: dict | None = None,
                 values: dict | None = None, import_errors: list[str] | None = None) -> Response:
    db = desk.p.db
    tariff = tariff or _tariff(desk.query("tariff", 32))
    prefix = desk.query("prefix", 16).lstrip("+")
    errors = dict(errors or {})
    if prefix and not (prefix.isdigit() and prefix.isascii()):
        errors["filter"] = "Filter by the digits a prefix starts with."
        prefix = ""
    raw_page = desk.query("page", 6)
    page = ascii_int(raw_page) or 1
    rows = await admin_queries.rate_page(db, tariff=tariff, prefix=prefix, offset=(page - 1) * PAGE_SIZE,
                                         limit=PAGE_SIZE)
    form = {"tariff": tariff, "prefix": "", "price": "", "increment": "60/60", "connection_fee": "0"}
    editing = desk.query("edit", 16)
    if editing and not values:
        row = await admin_queries.get_rate(db, tariff=tariff, prefix=editing)
        if row is not None:
            form.update(prefix=row["prefix"], price=money.format_price(row["price_per_minute"]),
                        increment=f"{row['first_increment']}/{row['next_increment']}",
                        connection_fee=money.format_price(row["connection_fee"]))
    form.update(values or {})
    tariffs = sorted(set(await rates.list_tariffs(db)) | {"default", tariff})
    return desk.render("admin/rates.html", status=status, active="rates", tariff=tariff, tariffs=tariffs,
                       prefix=prefix, page=page, rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, form=form,
                       done=_done(desk), errors=errors, import_errors=import_errors or [])


@admin_page()
async def rate_list(desk: Desk) -> Response:
    return await _rates(desk)


@admin_page()
async def save_rate(desk: Desk) -> Response:
    values = {name: desk.field(name, 32) for name in ("tariff", "prefix", "price", "increment", "connection_fee")}
    try:
        tariff = forms.tariff(values["tariff"] or "default")
        prefix = rates.clean_prefix(values["prefix"])
        price = forms.price(values["price"], "The price per minute")
        increment = forms.increment(values["increment"])
        fee = forms.price(values["connection_fee"] or "0", "The connection fee")
    except (forms.FormError, rates.RateError) as exc:
        message = str(exc)
        return await _rates(desk, tariff=_tariff(values["tariff"]), status=422,
                            errors={"rate": message[:1].upper() + message[1:].rstrip(".") + "."}, values=values)
    await rates.set_rate(desk.p.db, prefix=prefix, price_per_minute=price, increment=increment, tariff=tariff,
                         connection_fee=fee)
    return desk.redirect("/admin/rates?" + urlencode({"tariff": tariff, "prefix": prefix, "done": "saved"}))


def _uploaded_text(desk: Desk) -> str:
    upload = desk.files.get("file")
    if upload is not None and upload.content:
        try:
            return upload.content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.FormError("The file is not UTF-8 text (save it as CSV UTF-8).") from None
    text = desk.form.get("text", "")
    if not text.strip():
        raise forms.FormError("Choose a CSV file or paste the rates.")
    return text


@admin_page(upload=True)
async def import_rates(desk: Desk) -> Response:
    raw_tariff = desk.field("tariff", 32)
    try:
        tariff = forms.tariff(raw_tariff or "default")
        count = await rates.import_rates(desk.p.db, text=_uploaded_text(desk), tariff=tariff)
        if count == 0:
            raise forms.FormError("The file has no rates: nothing was imported.")
    except forms.FormError as exc:
        return await _rates(desk, tariff=_tariff(raw_tariff), status=422, errors={"import": str(exc)})
    except rates.RateError as exc:
        return await _rates(desk, tariff=_tariff(raw_tariff), status=422,
                            errors={"import": "Nothing was imported: fix these lines and import the file again."},
                            import_errors=str(exc).split("; "))
    except csv.Error as exc:
        return await _rates(desk, tariff=_tariff(raw_tariff), status=422,
                            errors={"import": f"Nothing was imported: the file is not CSV ({exc})."})
    return desk.redirect("/admin/rates?" + urlencode({"tariff": tariff, "done": "imported", "count": count}))


@admin_page()
async def export_rates(desk: Desk) -> Response:
    tariff = _tariff(desk.query("tariff", 32))
    filename = "rates-" + re.sub(r"[^A-Za-z0-9_-]", "_", tariff) + ".csv"
    return Response(await rates.export_rates(desk.p.db, tariff=tariff), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# Destination policy ------------------------------------------------------------------


async def _policy(desk: Desk, *, status: int = 200, errors: dict | None = None, values: dict | None = None) -> Response:
    db = desk.p.db
    rules = await policy.list_rules(db)
    logins = await admin_queries.account_logins(db, account_ids=[row["account_id"] for row in rules])
    limits = await policy.read_operator_limits(db)
    return desk.render("admin/policy.html", status=status, active="policy", rules=rules, logins=logins,
                       kinds=policy.KINDS, kind_text=KIND_TEXT, guarded=sorted(policy.GUARDED_TYPES.values()),
                       limits=limits, done=POLICY_DONE.get(desk.query("done")), errors=errors or {},
                       values=values or {})


@admin_page()
async def policy_page(desk: Desk) -> Response:
    return await _policy(desk)


async def _scope(desk: Desk) -> int | None:
    login = desk.field("account", 64)
    if not login:
        return None
    account = await accounts.get_account_by_login(desk.p.db, login=login)
    if account is None:
        raise forms.FormError(f"There is no account with login {login}.")
    return account["id"]


@admin_page()
async def add_rule(desk: Desk) -> Response:
    values = {"kind": desk.field("kind", 16), "value": desk.field("value", 32), "account": desk.field("account", 64)}
    try:
        await policy.add_rule(desk.p.db, kind=values["kind"], value=values["value"], account_id=await _scope(desk))
    except (forms.FormError, policy.PolicyError) as exc:
        message = str(exc)
        return await _policy(desk, status=422, errors={"rule": message[:1].upper() + message[1:].rstrip(".") + "."},
                             values=values)
    return desk.redirect("/admin/policy?done=added")


@admin_page()
async def remove_rule(desk: Desk) -> Response:
    raw_account = desk.field("account_id", 12)
    account_id = ascii_int(raw_account)
    if account_id is not None and not 0 < account_id <= admin_queries.MAX_ID:
        account_id = None
    try:
        removed = await policy.remove_rule(desk.p.db, kind=desk.field("kind", 16), value=desk.field("value", 32),
                                           account_id=account_id)
    except policy.PolicyError:
        removed = False
    if not removed:
        return await _policy(desk, status=422, errors={"rules": "There is no such rule (removed already?)."})
    return desk.redirect("/admin/policy?done=removed")


@admin_page()
async def save_limits(desk: Desk) -> Response:
    values = {"max_call_minutes": desk.field("max_call_minutes", 12), "max_call_cost": desk.field("max_call_cost", 20)}
    try:
        minutes = forms.whole_number(values["max_call_minutes"], 0, 24 * 60, "The longest call in minutes") \
            if values["max_call_minutes"] else 0
        # Operator limits are kept in cents, as `policy limits --max-call-cost` does.
        cost = forms.limit_amount(values["max_call_cost"], "USD") if values["max_call_cost"] else None
    except forms.FormError as exc:
        return await _policy(desk, status=422, errors={"limits": str(exc)}, values=values)
    await policy.set_operator_limit(desk.p.db, name="max_call_seconds", value=minutes * 60 or None)
    await policy.set_operator_limit(desk.p.db, name="max_call_cost", value=cost)
    return desk.redirect("/admin/policy?done=limits")
