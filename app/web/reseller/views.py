"""The reseller's pages at /reseller: its credit, its accounts, each account's calls with the margins,
the two things it may change on its own accounts (a top-up, blocking), and the rates of its own
selling tariff (never below its buying price).

Every account is looked up with `resellers.own_account`, which answers only for the signed-in
reseller's accounts: another's account id is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from app.calls import topups
from app.core import money, tariff
from app.data import accounts, rates, resellers
from app.web.kit import signin as kit_signin
from app.web.reseller.pages import RESELLER, RESELLERS, Counter

MAX_ID = 2**31 - 1
login_page, login, logout = kit_signin.handlers(RESELLER, RESELLERS)


async def _account(counter: Counter):
    account_id = counter.request.path_params["account_id"]
    if not 0 < account_id <= MAX_ID:
        return None
    return await resellers.own_account(counter.p.db, reseller_id=counter.reseller["id"], account_id=account_id)


@RESELLER.page()
async def home(counter: Counter) -> Response:
    reseller = await resellers.get_reseller(counter.p.db, reseller_id=counter.reseller["id"])
    own = await resellers.list_accounts(counter.p.db, reseller_id=reseller["id"])
    return counter.render("reseller/accounts.html", me=reseller, rows=own, fmt=money.format_amount,
                          available=reseller["credit_limit"] - reseller["used"] - reseller["reserved"])


async def _detail(counter: Counter, account, *, status: int = 200, error: str | None = None,
                  done: str | None = None) -> Response:
    cdrs = await resellers.account_cdrs(counter.p.db, reseller_id=counter.reseller["id"], account_id=account["id"])
    return counter.render("reseller/account.html", status=status, account=account, cdrs=cdrs,
                          fmt=money.format_amount, error=error, done=done)


@RESELLER.page()
async def account_page(counter: Counter) -> Response:
    account = await _account(counter)
    if account is None:
        return counter.not_found()
    return await _detail(counter, account, done=counter.request.query_params.get("done"))


@RESELLER.page()
async def top_up(counter: Counter) -> Response:
    account = await _account(counter)
    if account is None:
        return counter.not_found()
    try:
        amount = money.parse_amount(counter.field("amount", 40), account["currency"])
    except money.MoneyError:
        return await _detail(counter, account, status=422, error="The amount is not an amount, e.g. 10.00.")
    if amount <= 0:
        return await _detail(counter, account, status=422, error="A top-up is a positive amount.")
    await topups.change_balance(counter.p.db, counter.p.settings, account=account, amount=amount,
                                actor=counter.actor, note=counter.field("note", 255))
    counter.p.operator_events_ready.set()
    return counter.redirect(f"/reseller/accounts/{account['id']}?done=topup")


@RESELLER.page()
async def set_status(counter: Counter) -> Response:
    account = await _account(counter)
    if account is None:
        return counter.not_found()
    status = counter.field("status", 16)
    if status not in ("active", "blocked"):
        return await _detail(counter, account, status=422, error="A status is active or blocked.")
    await accounts.update_account(counter.p.db, account_id=account["id"], status=status)
    return counter.redirect(f"/reseller/accounts/{account['id']}?done=status")


async def _rates(counter: Counter, *, status: int = 200, error: str | None = None, done: bool = False,
                 values: dict | None = None) -> Response:
    reseller = await resellers.get_reseller(counter.p.db, reseller_id=counter.reseller["id"])
    own = await resellers.sell_rates(counter.p.db, reseller=reseller) if reseller["sell_tariff"] else []
    return counter.render("reseller/rates.html", status=status, me=reseller, rows=own, error=error, done=done,
                          values=values or {}, price=money.format_price)


@RESELLER.page()
async def rate_list(counter: Counter) -> Response:
    return await _rates(counter, done=counter.request.query_params.get("done") == "rate")


@RESELLER.page()
async def save_rate(counter: Counter) -> Response:
    """Add or change a rate of the reseller's own selling tariff; never below what it buys that prefix at."""
    reseller = await resellers.get_reseller(counter.p.db, reseller_id=counter.reseller["id"])
    values = {"prefix": counter.field("prefix", 20), "price": counter.field("price", 40),
              "increment": counter.field("increment", 20) or "60/60"}
    if not reseller["sell_tariff"]:
        return await _rates(counter, status=403, error="The operator keeps your selling rates.", values=values)
    try:
        prefix = rates.clean_prefix(values["prefix"])
        price = money.parse_price(values["price"])
        increment = tariff.parse_increment(values["increment"])
    except (rates.RateError, money.MoneyError) as exc:
        return await _rates(counter, status=422, error=f"{str(exc)[:200]}", values=values)
    buying = await resellers.buying_price(counter.p.db, tariff=reseller["tariff"], prefix=prefix)
    if buying is None:
        return await _rates(counter, status=422, values=values,
                            error=f"You cannot buy calls to {prefix}: the operator has no rate for it in your tariff.")
    if price < buying:
        # Holds on the reseller's credit are taken at the selling price: one below the buying price could
        # let calls in progress pass the credit limit.
        return await _rates(counter, status=422, values=values,
                            error=f"You buy {prefix} at {money.format_price(buying)} a minute: sell at that or more.")
    await rates.set_rate(counter.p.db, prefix=prefix, price_per_minute=price, increment=increment,
                         tariff=reseller["sell_tariff"])
    return counter.redirect("/reseller/rates?done=rate")


routes = [
    Route("/reseller/rates", rate_list, methods=["GET"]),
    Route("/reseller/rates", save_rate, methods=["POST"]),
    Route("/reseller", home, methods=["GET"]),
    Route("/reseller/login", login_page, methods=["GET"]),
    Route("/reseller/login", login, methods=["POST"]),
    Route("/reseller/logout", logout, methods=["POST"]),
    Route("/reseller/accounts/{account_id:int}", account_page, methods=["GET"]),
    Route("/reseller/accounts/{account_id:int}/topup", top_up, methods=["POST"]),
    Route("/reseller/accounts/{account_id:int}/status", set_status, methods=["POST"]),
]
