"""Admin pages for vouchers and PIN cards: the batches, a code looked up by typing it, disabling a batch.

Batches are made with the CLI (`voucher batch create`, `card batch create`), whose
CSV is the only place codes and PINs are ever shown. A code is found here by its
keyed digest, so the operator types the code; the page never lists codes.
"""

from __future__ import annotations

from starlette.responses import Response

from app.core import voucher_codes
from app.data import cards, vouchers
from app.data.db import utcnow
from app.web.admin.pages import Desk, admin_page

DONE = {"disabled": "The batch was disabled: its unredeemed codes are refused from now on."}


async def _page(desk: Desk, *, status: int = 200, errors: dict | None = None, found=None,
                looked_up: str | None = None) -> Response:
    db = desk.p.db
    return desk.render("admin/vouchers.html", status=status, active="vouchers",
                       batches=await vouchers.list_batches(db), card_batches=await cards.list_batches(db),
                       done=DONE.get(desk.query("done")), errors=errors or {}, found=found, looked_up=looked_up,
                       now=utcnow())


@admin_page()
async def voucher_list(desk: Desk) -> Response:
    return await _page(desk)


@admin_page()
async def find_code(desk: Desk) -> Response:
    # POSTed, not a query string: a code is money until it is redeemed, and URLs end up in logs.
    code = voucher_codes.read(desk.form.get("code", "")[:voucher_codes.MAX_TYPED + 1])
    if code is None:
        return await _page(desk, status=422, errors={"find": "That is not a voucher code: 14 digits, the last a "
                                                            "check digit. Check what was typed."})
    found = await vouchers.find_code(desk.p.db, secret_key=desk.p.secret_key, code=code)
    return await _page(desk, found=found, looked_up=voucher_codes.grouped(code))


@admin_page()
async def disable_batch(desk: Desk) -> Response:
    batch_id = desk.request.path_params["batch_id"]
    if not 0 < batch_id <= 2**31 - 1 or await vouchers.get_batch(desk.p.db, batch_id=batch_id) is None:
        return desk.not_found("voucher batch")
    await vouchers.disable_batch(desk.p.db, batch_id=batch_id)
    return desk.redirect("/admin/vouchers?done=disabled")
