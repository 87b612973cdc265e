"""The operator's admin pages at /admin: signing in, and the routing table of every admin page.

Operators are rows of `operators`, apart from subscribers, with a session
cookie of their own (app/web/admin/sessions.py). Every page needs a signed-in
operator and every form its CSRF token (app/web/admin/pages.py). The pages do
what the CLI does, through the same data-layer functions.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from app.web.admin import accounts as admin_accounts, calls as admin_calls, numbers as admin_numbers, prompts as admin_prompts, rates as admin_rates, sessions as admin_sessions
from app.fraud import lockouts
from app.data import operators
from app.core import request_origin
from app.web.admin.pages import Desk, admin_page, safe_next

MAX_PASSWORD = 1024


def client_ip(desk: Desk) -> str:
    return request_origin.client_address(desk.request)


@admin_page(login=False)
async def login_page(desk: Desk) -> Response:
    target = safe_next(desk.request.query_params.get("next"))
    if desk.operator is not None:
        return desk.redirect(target)
    return desk.render("admin/login.html", next=target)


@admin_page(login=False)
async def login(desk: Desk) -> Response:
    db = desk.p.db
    name = desk.form.get("login", "").strip()[:64]
    target = safe_next(desk.form.get("next"))
    # Counted before it is checked (app/fraud/lockouts.py): by address, and by login at the higher account-wide
    # limit; apart from the portal's, so a subscriber's lockout never locks an operator out, nor the reverse.
    attempt = await lockouts.begin(db, requester=f"admin:{client_ip(desk)}", channel="admin",
                                   name=f"operator:{name}")
    if attempt is None:
        return desk.render("admin/login.html", status=429, next=target, login=name,
                           error="Too many failed attempts. Try again later.")
    operator = await operators.authenticate(db, login=name, password=desk.form.get("password", "")[:MAX_PASSWORD])
    if operator is None:
        return desk.render("admin/login.html", status=401, next=target, login=name,
                           error="Wrong login or password.")
    await lockouts.succeeded(db, attempt)
    await admin_sessions.log_in(desk.p, desk.session, operator)
    return desk.redirect(target)


@admin_page()
async def logout(desk: Desk) -> Response:
    await admin_sessions.log_out(desk.p, desk.session)
    return desk.redirect("/admin/login")


routes = [
    Route("/admin", admin_calls.summary_page, methods=["GET"]),
    Route("/admin/login", login_page, methods=["GET"]),
    Route("/admin/login", login, methods=["POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin/live", admin_calls.live_page, methods=["GET"]),
    Route("/admin/live.json", admin_calls.live_json, methods=["GET"]),
    Route("/admin/live/{request_id:int}/cancel", admin_calls.cancel_callback, methods=["POST"]),
    Route("/admin/cdrs", admin_calls.cdr_search, methods=["GET"]),
    Route("/admin/cdrs.csv", admin_calls.cdr_csv, methods=["GET"]),
    Route("/admin/accounts", admin_accounts.account_list, methods=["GET"]),
    Route("/admin/accounts", admin_accounts.create_account, methods=["POST"]),
    Route("/admin/accounts/{account_id:int}", admin_accounts.account_page, methods=["GET"]),
    Route("/admin/accounts/{account_id:int}/status", admin_accounts.set_status, methods=["POST"]),
    Route("/admin/accounts/{account_id:int}/topup", admin_accounts.top_up, methods=["POST"]),
    Route("/admin/accounts/{account_id:int}/pin", admin_accounts.reset_pin, methods=["POST"]),
    Route("/admin/accounts/{account_id:int}/anis", admin_accounts.add_ani, methods=["POST"]),
    Route("/admin/accounts/{account_id:int}/anis/remove", admin_accounts.remove_ani, methods=["POST"]),
    Route("/admin/accounts/{account_id:int}/unlock", admin_accounts.unlock, methods=["POST"]),
    Route("/admin/accounts/{account_id:int}/settings", admin_accounts.save_settings, methods=["POST"]),
    Route("/admin/lockouts", admin_accounts.lockout_list, methods=["GET"]),
    Route("/admin/lockouts/clear", admin_accounts.clear_lockout, methods=["POST"]),
    Route("/admin/numbers", admin_numbers.number_list, methods=["GET"]),
    Route("/admin/numbers", admin_numbers.add_number, methods=["POST"]),
    Route("/admin/numbers/{number_id:int}/mode", admin_numbers.change_mode, methods=["POST"]),
    Route("/admin/numbers/{number_id:int}/caller-id", admin_numbers.change_caller_id, methods=["POST"]),
    Route("/admin/numbers/{number_id:int}/remove", admin_numbers.remove_number, methods=["POST"]),
    Route("/admin/rates", admin_rates.rate_list, methods=["GET"]),
    Route("/admin/rates", admin_rates.save_rate, methods=["POST"]),
    Route("/admin/rates/import", admin_rates.import_rates, methods=["POST"]),
    Route("/admin/rates/export.csv", admin_rates.export_rates, methods=["GET"]),
    Route("/admin/policy", admin_rates.policy_page, methods=["GET"]),
    Route("/admin/policy/rules", admin_rates.add_rule, methods=["POST"]),
    Route("/admin/policy/rules/remove", admin_rates.remove_rule, methods=["POST"]),
    Route("/admin/policy/limits", admin_rates.save_limits, methods=["POST"]),
    Route("/admin/prompts", admin_prompts.prompt_list, methods=["GET"]),
    Route("/admin/prompts", admin_prompts.upload, methods=["POST"]),
    Route("/admin/prompts/remove", admin_prompts.remove, methods=["POST"]),
]
