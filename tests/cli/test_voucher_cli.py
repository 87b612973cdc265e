"""`voucher batch` and `card batch`: the CSV printed once, what is stored, and bad input refused."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from app.core import security, voucher_codes
from app.cli import main as cli
from app.data.tables import accounts, card_batches, voucher_batches, vouchers


@pytest.fixture
def run(settings, capsys):
    def run(*argv):
        code = cli.main(list(argv), settings=settings)
        out = capsys.readouterr()
        return code, out.out.strip(), out.err.strip()
    return run


def rows(engine, table):
    with engine.connect() as c:
        return c.execute(sa.select(table)).mappings().all()


def test_a_voucher_batch_is_printed_once_as_csv_and_stored_hashed(run, engine, settings):
    code, out, err = run("voucher", "batch", "create", "--count", "5", "--value", "10.00", "--currency", "eur",
                         "--expires", "2999-06-30", "--prefix", "42")
    assert code == 0 and "batch #1: 5 codes" in err
    table = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == "code,value,currency,expires" and len(table) == 5
    for row in table:
        assert voucher_codes.read(row["code"]) == row["code"] and row["code"].startswith("42")
        assert (row["value"], row["currency"], row["expires"]) == ("10.00", "EUR", "2999-06-30")
    (batch,) = rows(engine, voucher_batches)
    assert (batch["count"], batch["value"], batch["currency"], batch["prefix"]) == (5, 1000, "EUR", "42")
    assert str(batch["expires_at"]) == "2999-07-01 00:00:00"
    stored = {row["code_hash"] for row in rows(engine, vouchers)}
    assert stored == {voucher_codes.digest(settings.secret_key, row["code"]) for row in table}
    assert run("voucher", "batch", "disable", "1")[1] == "voucher batch #1 disabled: its unredeemed codes are refused"
    assert "DISABLED" in run("voucher", "batch", "list")[1]


@pytest.mark.parametrize("argv, message", [
    (["--count", "0", "--value", "1"], "--count is 1 to"),
    (["--count", "1", "--value", "0"], "positive"),
    (["--count", "1", "--value", "1.001"], "decimals"),
    (["--count", "1", "--value", "1", "--currency", "dollars"], "three-letter"),
    (["--count", "1", "--value", "1", "--expires", "2001-01-01"], "in the past"),
    (["--count", "1", "--value", "1", "--expires", "tomorrow"], "a date such as"),
    (["--count", "1", "--value", "1", "--prefix", "4x"], "1 to 6 digits"),
    (["--count", "1", "--value", "1", "--prefix", "1234567"], "1 to 6 digits"),
])
def test_bad_voucher_batches_are_refused(run, engine, argv, message):
    code, out, err = run("voucher", "batch", "create", *argv)
    assert code == 1 and message in err and out == ""
    assert rows(engine, voucher_batches) == [] and rows(engine, vouchers) == []


def test_a_card_batch_makes_accounts_with_a_pin_and_no_login(run, engine, settings):
    code, out, err = run("card", "batch", "create", "--count", "3", "--balance", "5.00", "--valid-days", "30",
                         "--language", "fr")
    assert code == 0 and "card batch #1: 3 PIN cards" in err
    assert out.splitlines()[0] == "pin,balance,currency,valid_days,login"
    table = list(csv.DictReader(io.StringIO(out)))
    made = {row["login"]: row for row in rows(engine, accounts)}
    assert len(table) == 3 == len(made)
    for row in table:
        account = made[row["login"]]
        assert len(row["pin"]) >= 10 and account["pin_hash"] == security.pin_digest(settings.secret_key, row["pin"])
        assert (account["balance"], account["card_batch_id"], account["language"]) == (500, 1, "fr")
        assert account["card_expires_at"] is None  # not used yet
        assert not security.verify_password(account["password_hash"], "")
    assert rows(engine, card_batches)[0]["valid_days"] == 30
    assert "0 used" in run("card", "batch", "list")[1]
    assert run("card", "batch", "create", "--count", "1", "--balance", "-1")[0] == 1


def test_account_set_low_balance(run, engine):
    assert run("account", "create", "al", "--password", "long-enough")[0] == 0
    assert run("account", "set", "al", "--low-balance", "2.50")[0] == 0
    assert rows(engine, accounts)[0]["low_balance_threshold"] == 250
    assert run("account", "set", "al", "--low-balance", "0")[0] == 0
    assert rows(engine, accounts)[0]["low_balance_threshold"] is None
    assert run("account", "set", "al", "--low-balance", "lots")[0] == 1
