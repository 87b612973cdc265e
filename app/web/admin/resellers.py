"""The resellers page: each reseller's buying tariff, credit (limit, used, held, available) and accounts.
Resellers are made and given accounts with `callback-platform reseller ...`."""

from __future__ import annotations

from starlette.responses import Response

from app.core import money
from app.data import resellers
from app.web.admin.pages import Desk, admin_page


@admin_page()
async def reseller_list(desk: Desk) -> Response:
    return desk.render("admin/resellers.html", active="resellers", rows=await resellers.overview(desk.p.db),
                       fmt=money.format_amount)
