"""The portal's balance page: the balance and its history, a voucher form, the low-balance notice threshold."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from app.calls import vouchers
from app.core import money, request_origin, voucher_codes
from app.data import accounts, low_balance
from app.web.portal.pages import Visit, portal_page

DONE = {"threshold": "Your low-balance notice was saved."}
MAX_HISTORY = 50


async def _page(visit: Visit, *, status: int = 200, errors: dict | None = None, credited: str | None = None,
                values: dict | None = None) -> Response:
    account = visit.account
    currency = account["currency"]
    history = [{"at": row["created_at"], "amount": money.format_amount(row["amount"], currency),
                "balance_after": money.format_amount(row["balance_after"], currency),
                "what": "Voucher" if row["actor"] == "voucher" else "Top-up" if row["amount"] >= 0 else "Correction"}
               for row in await accounts.list_adjustments(visit.p.db, account_id=account["id"], limit=MAX_HISTORY)]
    threshold = account["low_balance_threshold"]
    return visit.render(
        "portal/balance.html", status=status, active="balance", errors=errors or {}, values=values or {},
        credited=credited, history=history, currency=currency,
        done=DONE.get(visit.request.query_params.get("done", "")),
        threshold=money.format_amount(threshold, currency) if threshold is not None else "",
    )


@portal_page()
async def balance_page(visit: Visit) -> Response:
    return await _page(visit)


@portal_page()
async def redeem(visit: Visit) -> Response:
    typed = visit.form.get("code", "")[:voucher_codes.MAX_TYPED + 1]
    outcome = await vouchers.redeem(visit.p, account=visit.account, typed=typed, channel="web",
                                    requester=f"web:{request_origin.client_address(visit.request)}")
    if outcome == vouchers.LOCKED:
        return await _page(visit, status=429, errors={"voucher": "Too many wrong voucher codes. Try again later."})
    if not isinstance(outcome, vouchers.Credited):
        return await _page(visit, status=422, errors={"voucher": "That voucher code is not valid."})
    await visit.reload_account()
    currency = visit.account["currency"]
    return await _page(visit, credited=f"Voucher accepted: {money.format_amount(outcome.value, currency)} {currency} "
                                       f"added. Your balance is {money.format_amount(outcome.balance, currency)} "
                                       f"{currency}.")


@portal_page()
async def save_threshold(visit: Visit) -> Response:
    raw = visit.form.get("threshold", "").strip()[:money.MAX_TEXT]
    currency = visit.account["currency"]
    try:
        threshold = money.parse_amount(raw, currency) if raw else 0
    except money.MoneyError:
        threshold = -1
    if threshold < 0:
        return await _page(visit, status=422, errors={"threshold": "Type an amount such as 2.00, or leave it empty."},
                           values={"threshold": raw})
    await low_balance.set_threshold(visit.p.db, account_id=visit.account["id"], threshold=threshold or None)
    return visit.redirect("/balance?done=threshold")


routes = [
    Route("/balance", balance_page, methods=["GET"]),
    Route("/balance/voucher", redeem, methods=["POST"]),
    Route("/balance/low", save_threshold, methods=["POST"]),
]
