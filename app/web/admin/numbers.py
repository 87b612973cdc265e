"""Admin pages for service numbers: list, add, change the mode or the caller ID shown, remove."""

from __future__ import annotations

from starlette.responses import Response

from app.data import accounts, admin_queries, service_numbers
from app.web.admin import forms as forms
from app.web.admin.pages import Desk, admin_page
from app.calls import did_direct
from app.data.service_numbers import DID_MODES, MODES

DONE = {"added": "The number was added.", "mode": "The number's mode (and account, destination) was changed.",
        "caller_id": "The caller ID setting was saved.", "removed": "The number was removed."}
MODE_TEXT = {
    "pin": "anyone with a caller ID; asks for a PIN",
    "ani": "registered caller IDs only; no PIN",
    "ani-then-pin": "registered caller IDs, otherwise a PIN",
    "ani-and-pin": "registered caller IDs, and their PIN",
    "did": "one account's personal number, any caller",
    "did-direct": "one account's personal number, connects its fixed destination with no IVR",
}


async def _page(desk: Desk, *, status: int = 200, errors: dict | None = None, values: dict | None = None) -> Response:
    db = desk.p.db
    rows = await service_numbers.list_numbers(db)
    logins = await admin_queries.account_logins(db, account_ids=[row["account_id"] for row in rows])
    return desk.render("admin/numbers.html", status=status, active="numbers", rows=rows, logins=logins,
                       modes=MODES, mode_text=MODE_TEXT, caller_id_modes=forms.CALLER_ID_MODES,
                       done=DONE.get(desk.query("done")), errors=errors or {}, values=values or {})


async def _owner(desk: Desk, mode: str) -> tuple[int | None, str | None]:
    """The account a DID belongs to, from the login typed, and a DID-direct number's destination
    (its policy checked); None for what the mode has not."""
    login = desk.field("account", 64)
    raw_destination = desk.field("destination", 40)
    if mode not in DID_MODES:
        if login:
            raise forms.FormError("Only a DID number belongs to an account: leave the account empty.")
    elif not login:
        raise forms.FormError("A DID number belongs to an account: give its login.")
    if mode != "did-direct" and raw_destination:
        raise forms.FormError("Only a DID-direct number has a destination: leave it empty.")
    if mode not in DID_MODES:
        return None, None
    account = await accounts.get_account_by_login(desk.p.db, login=login)
    if account is None:
        raise forms.FormError(f"There is no account with login {login}.")
    if mode != "did-direct":
        return account["id"], None
    try:
        return account["id"], await did_direct.checked_destination(desk.p.db, account=account, raw=raw_destination)
    except did_direct.DestinationError as exc:
        raise forms.FormError(str(exc)) from None


@admin_page()
async def number_list(desk: Desk) -> Response:
    return await _page(desk)


@admin_page()
async def add_number(desk: Desk) -> Response:
    values = {"number": desk.field("number", 40), "mode": desk.field("mode", 16), "account": desk.field("account", 64),
              "destination": desk.field("destination", 40)}
    try:
        number = forms.phone_number(values["number"])
        mode = forms.number_mode(values["mode"])
        account_id, destination = await _owner(desk, mode)
        await service_numbers.add_number(desk.p.db, number=number, mode=mode, account_id=account_id,
                                         destination=destination)
    except (forms.FormError, service_numbers.NumberError) as exc:
        message = str(exc)
        return await _page(desk, status=422, errors={"add": message[:1].upper() + message[1:].rstrip(".") + "."},
                           values=values)
    return desk.redirect("/admin/numbers?done=added")


def number_action(handler):
    async def with_number(desk: Desk) -> Response:
        row = await service_numbers.get_number_by_id(desk.p.db, number_id=desk.request.path_params["number_id"])
        if row is None:
            return desk.not_found("service number")
        return await handler(desk, row)

    with_number.__name__ = handler.__name__
    return admin_page()(with_number)


@number_action
async def change_mode(desk: Desk, row) -> Response:
    try:
        mode = forms.number_mode(desk.field("mode", 16))
        account_id, destination = await _owner(desk, mode)
        await service_numbers.set_mode(desk.p.db, number_id=row["id"], mode=mode, account_id=account_id,
                                       destination=destination)
    except (forms.FormError, service_numbers.NumberError) as exc:
        message = str(exc)
        return await _page(desk, status=422,
                           errors={row["id"]: message[:1].upper() + message[1:].rstrip(".") + "."})
    return desk.redirect("/admin/numbers?done=mode")


@number_action
async def change_caller_id(desk: Desk, row) -> Response:
    raw = desk.field("caller_id_mode", 16)
    if raw and raw not in forms.CALLER_ID_MODES:
        return await _page(desk, status=422, errors={row["id"]: "Choose a caller ID setting from the list."})
    await service_numbers.set_caller_id_mode(desk.p.db, number_id=row["id"], caller_id_mode=raw or None)
    return desk.redirect("/admin/numbers?done=caller_id")


@number_action
async def remove_number(desk: Desk, row) -> Response:
    await service_numbers.remove_number(desk.p.db, number_id=row["id"])
    return desk.redirect("/admin/numbers?done=removed")
