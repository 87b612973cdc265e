"""Admin pages for subscriber accounts: search, create, block, top up, PIN, ANIs, lockouts, settings.

Each form posts to its own path and comes back to the account's page: a
redirect with a `done` code on success, the page with the form's error (422)
otherwise.
"""

from __future__ import annotations


from starlette.responses import Response

from app.data import accounts, admin_queries, low_balance
from app.calls import topups
from app.fraud import lockouts
from app.core import money, schedule, security
from app.core.numbers import ascii_int
from app.web.admin import forms as forms
from app.web.admin.pages import Desk, admin_page

PAGE_SIZE = 50
DONE = {
    "created": "The account was created.",
    "status": "The account's status was changed.",
    "topup": "The balance was changed and the change recorded.",
    "pin": "The PIN was changed.",
    "ani_added": "The number is now a caller ID (ANI) of the account.",
    "ani_removed": "The number is no longer a caller ID of the account.",
    "unlocked": "Failed attempts were cleared: the account is unlocked.",
    "settings": "The settings were saved.",
    "low_balance": "The low-balance notice was saved.",
}
PIN_TRIES = 20


def _page_number(raw: str) -> int:
    return ascii_int(raw, max_digits=5) or 1


# The list, and a new account ---------------------------------------------------


async def _list(desk: Desk, *, status: int = 200, error: str | None = None, values: dict | None = None) -> Response:
    search = desk.query("q")
    page = _page_number(desk.query("page", 6))
    rows = await admin_queries.search_accounts(desk.p.db, login_part=search, offset=(page - 1) * PAGE_SIZE,
                                               limit=PAGE_SIZE + 1)
    return desk.render("admin/accounts.html", status=status, active="accounts", rows=rows[:PAGE_SIZE],
                       more=len(rows) > PAGE_SIZE, page=page, search=search, error=error, values=values or {},
                       languages=forms.languages())


@admin_page()
async def account_list(desk: Desk) -> Response:
    return await _list(desk)


@admin_page()
async def create_account(desk: Desk) -> Response:
    values = {name: desk.field(name, 64) for name in
              ("login", "pin", "default_number", "balance", "currency", "country", "language")}
    try:
        fields = forms.new_account({**values, "password": desk.form.get("password", "")},
                                   pin_min_length=desk.p.settings.pin_min_length)
        account_id = await accounts.create_account(desk.p.db, secret_key=desk.p.secret_key, **fields)
    except (forms.FormError, accounts.AccountError) as exc:
        return await _list(desk, status=422, error=_sentence(exc), values=values)
    return desk.redirect(f"/admin/accounts/{account_id}?done=created")


def _sentence(exc: Exception) -> str:
    text = str(exc)
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


# One account -------------------------------------------------------------------


async def _account(desk: Desk):
    account_id = desk.request.path_params["account_id"]
    if not 0 < account_id <= admin_queries.MAX_ID:
        return None
    return await accounts.get_account(desk.p.db, account_id=account_id)


async def _detail(desk: Desk, account, *, status: int = 200, errors: dict | None = None,
                  values: dict | None = None, new_pin: str | None = None) -> Response:
    db = desk.p.db
    failures = await admin_queries.account_failures(db, account_id=account["id"])
    return desk.render(
        "admin/account.html", status=status, active="accounts", account=account,
        done=DONE.get(desk.query("done")), errors=errors or {}, values=values or {}, new_pin=new_pin,
        anis=await accounts.list_anis(db, account_id=account["id"]),
        adjustments=await accounts.list_adjustments(db, account_id=account["id"]),
        failures=failures, locked=failures >= lockouts.ACCOUNT_MAX_FAILURES,
        max_failures=lockouts.ACCOUNT_MAX_FAILURES, source_max_failures=lockouts.MAX_FAILURES,
        languages=forms.languages(account["language"]), confirm_modes=forms.CONFIRM_MODES,
        caller_id_modes=forms.CALLER_ID_MODES, record_calls=forms.RECORD_CALLS,
        time_zones=sorted(schedule.time_zones()),
    )


def account_action(handler):
    """An account form's handler `(desk, account)`: 404 for an unknown account."""

    async def with_account(desk: Desk) -> Response:
        account = await _account(desk)
        if account is None:
            return desk.not_found("account")
        return await handler(desk, account)

    with_account.__name__ = handler.__name__
    return admin_page()(with_account)


@account_action
async def account_page(desk: Desk, account) -> Response:
    return await _detail(desk, account)


@account_action
async def set_status(desk: Desk, account) -> Response:
    try:
        status = forms.choice(desk.field("status"), forms.STATUSES, "A status")
    except forms.FormError as exc:
        return await _detail(desk, account, status=422, errors={"status": str(exc)})
    await accounts.update_account(desk.p.db, account_id=account["id"], status=status)
    return desk.redirect(f"/admin/accounts/{account['id']}?done=status")


@account_action
async def top_up(desk: Desk, account) -> Response:
    values = {"amount": desk.field("amount", 40), "note": desk.form.get("note", "")[:300]}
    try:
        amount = forms.amount(values["amount"], account["currency"])
        note = forms.note(values["note"])
        if amount == 0:
            raise forms.FormError("The amount is zero: nothing to change.")
        if amount < 0 and not note:
            raise forms.FormError("A correction (a negative amount) needs a note saying why.")
        if account["balance"] + amount < 0:
            raise forms.FormError("A correction cannot take the balance below zero (it is "
                                  f"{money.format_amount(account['balance'], account['currency'])}).")
    except forms.FormError as exc:
        return await _detail(desk, account, status=422, errors={"topup": str(exc)}, values=values)
    await topups.change_balance(desk.p.db, desk.p.settings, account=account, amount=amount, actor=desk.actor, note=note)
    desk.p.operator_events_ready.set()
    return desk.redirect(f"/admin/accounts/{account['id']}?done=topup")


@account_action
async def save_low_balance(desk: Desk, account) -> Response:
    raw = desk.field("threshold", 40)
    try:
        threshold = forms.amount(raw, account["currency"], "The threshold") if raw else 0
        if threshold < 0:
            raise forms.FormError("The threshold cannot be negative.")
    except forms.FormError as exc:
        return await _detail(desk, account, status=422, errors={"low_balance": str(exc)},
                             values={"threshold": raw})
    await low_balance.set_threshold(desk.p.db, account_id=account["id"], threshold=threshold or None)
    return desk.redirect(f"/admin/accounts/{account['id']}?done=low_balance")


async def _generated_pin(desk: Desk, account) -> str:
    for _ in range(PIN_TRIES):
        pin = security.random_pin(desk.p.settings.pin_min_length)
        try:
            await accounts.set_pin(desk.p.db, secret_key=desk.p.secret_key, account_id=account["id"], pin=pin)
            return pin
        except accounts.AccountError:
            continue  # in use by another account: PINs are unique
    raise forms.FormError("No free PIN was found; type one instead.")


@account_action
async def reset_pin(desk: Desk, account) -> Response:
    try:
        if desk.field("generate"):
            pin = await _generated_pin(desk, account)
            # Shown once, in this response only: it is stored as a keyed hash.
            return await _detail(desk, await accounts.get_account(desk.p.db, account_id=account["id"]), new_pin=pin)
        pin = forms.pin(desk.field("pin", 40), desk.p.settings.pin_min_length)
        await accounts.set_pin(desk.p.db, secret_key=desk.p.secret_key, account_id=account["id"], pin=pin)
    except (forms.FormError, accounts.AccountError) as exc:
        return await _detail(desk, account, status=422, errors={"pin": _sentence(exc)})
    return desk.redirect(f"/admin/accounts/{account['id']}?done=pin")


@account_action
async def add_ani(desk: Desk, account) -> Response:
    raw = desk.field("number", 40)
    try:
        number = forms.phone_number(raw, account["country"])
        await accounts.add_ani(desk.p.db, account_id=account["id"], number=number, verified=True)
    except (forms.FormError, accounts.AccountError) as exc:
        return await _detail(desk, account, status=422, errors={"anis": _sentence(exc)}, values={"number": raw})
    return desk.redirect(f"/admin/accounts/{account['id']}?done=ani_added")


@account_action
async def remove_ani(desk: Desk, account) -> Response:
    if not await accounts.remove_ani(desk.p.db, account_id=account["id"], number=desk.field("number", 40)):
        return await _detail(desk, account, status=422, errors={"anis": "That number is not a caller ID of "
                                                                          "this account."})
    return desk.redirect(f"/admin/accounts/{account['id']}?done=ani_removed")


@account_action
async def unlock(desk: Desk, account) -> Response:
    await lockouts.clear(desk.p.db, account_id=account["id"])
    return desk.redirect(f"/admin/accounts/{account['id']}?done=unlocked")


@account_action
async def save_settings(desk: Desk, account) -> Response:
    try:
        changes = forms.account_settings({name: value[:64] for name, value in desk.form.items()}, account)
    except forms.FormError as exc:
        return await _detail(desk, account, status=422, errors={"settings": str(exc)},
                             values={name: value[:64] for name, value in desk.form.items()})
    await accounts.update_account(desk.p.db, account_id=account["id"], **changes)
    return desk.redirect(f"/admin/accounts/{account['id']}?done=settings")


# Lockouts across accounts --------------------------------------------------------


async def _lockouts(desk: Desk, *, status: int = 200, error: str | None = None) -> Response:
    rows = await lockouts.recent(desk.p.db)
    logins = await admin_queries.account_logins(desk.p.db, account_ids=[row["account_id"] for row in rows])
    return desk.render("admin/lockouts.html", status=status, active="lockouts", rows=rows, logins=logins,
                       max_failures=lockouts.MAX_FAILURES, done=desk.query("done") == "cleared", error=error)


@admin_page()
async def lockout_list(desk: Desk) -> Response:
    return await _lockouts(desk)


@admin_page()
async def clear_lockout(desk: Desk) -> Response:
    requester = desk.form.get("requester", "")
    raw_account = desk.field("account_id", 12)
    if raw_account:
        account_id = ascii_int(raw_account)
        if account_id is None or not 0 < account_id <= admin_queries.MAX_ID:
            return await _lockouts(desk, status=422, error="No such account.")
        await lockouts.clear(desk.p.db, account_id=account_id)
    elif requester and len(requester) <= 64:
        await lockouts.clear(desk.p.db, requester=requester)
    else:
        return await _lockouts(desk, status=422, error="Say which lockout to clear.")
    return desk.redirect("/admin/lockouts?done=cleared")
