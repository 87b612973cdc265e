"""The operator's admin pages at /admin: signing in, and the routing table of every admin page.

Operators are rows of `operators`, apart from subscribers, with a session
cookie of their own (app/web/admin/sessions.py). Every page needs a signed-in
operator and every form its CSRF token (the web kit's page, app/web/admin/pages.py). The pages do
what the CLI does, through the same data-layer functions.
"""

from __future__ import annotations

from starlette.routing import Route

from app.web.admin import accounts as admin_accounts, calls as admin_calls, numbers as admin_numbers
from app.web.admin import alarms as admin_alarms, prompts as admin_prompts, providers as admin_providers
from app.web.admin import rates as admin_rates
from app.web.admin import resellers as admin_resellers, vouchers as admin_vouchers, widgets as admin_widgets
from app.data import operators
from app.web.admin.pages import ADMIN
from app.web.kit import signin as kit_signin


async def _nobody(login: str, db):
    return None  # operators are looked up only once the attempt is counted, by operators.authenticate


# Counted by address, and by login at the higher account-wide limit; apart from the portal's, so a
# subscriber's lockout never locks an operator out, nor the reverse.
OPERATORS = kit_signin.UserKind(
    channel="admin", template="admin/login.html", named=_nobody,
    counted_as=lambda login, operator: {"name": f"operator:{login}"},
    check=lambda db, login, password, operator: operators.authenticate(db, login=login, password=password))
login_page, login, logout = kit_signin.handlers(ADMIN, OPERATORS)


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
    Route("/admin/alarms", admin_alarms.alarm_list, methods=["GET"]),
    Route("/admin/resellers", admin_resellers.reseller_list, methods=["GET"]),
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
    Route("/admin/providers", admin_providers.provider_page, methods=["GET"]),
    Route("/admin/providers", admin_providers.mark_provider, methods=["POST"]),
    Route("/admin/prompts", admin_prompts.prompt_list, methods=["GET"]),
    Route("/admin/prompts", admin_prompts.upload, methods=["POST"]),
    Route("/admin/prompts/remove", admin_prompts.remove, methods=["POST"]),
    Route("/admin/widgets", admin_widgets.widget_list, methods=["GET"]),
    Route("/admin/widgets", admin_widgets.create_widget, methods=["POST"]),
    Route("/admin/widgets/{widget_id:int}", admin_widgets.widget_page, methods=["GET"]),
    Route("/admin/widgets/{widget_id:int}", admin_widgets.save_widget, methods=["POST"]),
    Route("/admin/widgets/{widget_id:int}/enabled", admin_widgets.set_enabled, methods=["POST"]),
    Route("/admin/vouchers", admin_vouchers.voucher_list, methods=["GET"]),
    Route("/admin/vouchers/find", admin_vouchers.find_code, methods=["POST"]),
    Route("/admin/vouchers/{batch_id:int}/disable", admin_vouchers.disable_batch, methods=["POST"]),
    Route("/admin/accounts/{account_id:int}/low-balance", admin_accounts.save_low_balance, methods=["POST"]),
]
