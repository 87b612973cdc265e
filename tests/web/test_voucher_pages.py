"""The voucher forms of the admin pages and the portal, driven in-process: hostile input gets a form message."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data import vouchers
from app.data.tables import accounts, voucher_batches
from tests.utils.web import Browser, logged_in, operator, web_platform


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine) as platform:
        yield platform


def test_admin_voucher_pages_need_a_session_and_take_only_codes(p):
    assert Browser(p).request("GET", "/admin/vouchers").status_code in (302, 303)
    batch_id, (code,) = p.run(vouchers.create_batch, p.platform.db, secret_key=p.settings.secret_key, count=1,
                              value=500, currency="USD")
    ops = operator(p)
    page = ops.get("/admin/vouchers")
    assert page.status_code == 200 and f'data-batch="{batch_id}"' in page.text and code not in page.text
    for typed in ("", "not a code", "1" * 14, "9" * 500, "１２３"):
        refused = ops.submit("/admin/vouchers/find", {"code": typed})
        assert refused.status_code == 422 and "That is not a voucher code" in refused.text
    found = ops.submit("/admin/vouchers/find", {"code": code})
    assert found.status_code == 200 and "not redeemed" in found.text
    assert ops.submit("/admin/vouchers/999999/disable", {}).status_code == 404
    assert ops.submit(f"/admin/vouchers/{batch_id}/disable", {}, csrf="forged").status_code == 403
    assert ops.submit(f"/admin/vouchers/{batch_id}/disable", {}).status_code == 200
    assert p.scalar(sa.select(voucher_batches.c.disabled_at)) is not None
    assert "batch disabled" in ops.submit("/admin/vouchers/find", {"code": code}).text


def test_low_balance_thresholds_in_the_admin_and_the_portal(p):
    ops = operator(p)
    alice_id = p.scalar(sa.select(accounts.c.id).where(accounts.c.login == "alice"))
    ops.get(f"/admin/accounts/{alice_id}")
    for bad in ("lots", "-1", "1.001", "1E+999999999"):
        refused = ops.submit(f"/admin/accounts/{alice_id}/low-balance", {"threshold": bad})
        assert refused.status_code == 422, bad
    assert ops.submit(f"/admin/accounts/{alice_id}/low-balance", {"threshold": "2.50"}).status_code == 200
    assert p.scalar(sa.select(accounts.c.low_balance_threshold).where(accounts.c.id == alice_id)) == 250
    alice = logged_in(p)
    page = alice.get("/balance")
    assert 'value="2.50"' in page.text
    for bad in ("lots", "-1", "9" * 100):
        assert alice.submit("/balance/low", {"threshold": bad}).status_code == 422, bad
    assert alice.submit("/balance/low", {"threshold": ""}).status_code == 200
    assert p.scalar(sa.select(accounts.c.low_balance_threshold).where(accounts.c.id == alice_id)) is None
    assert alice.submit("/balance/voucher", {"code": "x" * 10_000}).status_code == 422
