"""The operator's command line, on a migrated database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.cli import main as cli
from app.data.tables import accounts, anis, api_tokens, rates, service_numbers


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


def test_account_create_stores_hashes_and_minor_units(run, engine):
    code, out, _ = run("account", "create", "alice", "--password", "pass-word", "--pin", "482193",
                       "--default-number", "(415) 555-0100", "--balance", "10.50", "--language", "es")
    assert code == 0 and "alice" in out
    (account,) = rows(engine, accounts)
    assert account["balance"] == 1050 and account["default_number"] == "+14155550100"
    assert account["password_hash"].startswith("$argon2") and "pass-word" not in account["password_hash"]
    assert account["pin_hash"] != "482193" and len(account["pin_hash"]) == 64
    assert account["language"] == "es"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["account", "create", "bob", "--password", "short"], "8 characters"),
        (["account", "create", "bob", "--password", "long-enough", "--pin", "12"], "4 to 12 digits"),
        (["account", "create", "bob", "--password", "long-enough", "--default-number", "12345"], "not a valid"),
        (["account", "create", "bob", "--password", "long-enough", "--balance", "ten"], "not an amount"),
        (["account", "create", "bob", "--password", "long-enough", "--country", "USA"], "two-letter"),
        (["account", "add-ani", "nobody", "+14155550100"], "no account"),
        (["account", "topup", "nobody", "5"], "no account"),
        (["number", "add", "+18005550000", "--mode", "did"], "--account"),
        (["number", "add", "banana", "--mode", "pin"], "not a valid"),
        (["rate", "add", "4x", "0.01"], "digits"),
        (["rate", "add", "44", "0.01", "--increment", "sixty"], "60/60"),
        (["rate", "import", "/nonexistent.csv"], "no such file"),
        (["token", "create", "nobody"], "no account"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nonzero_exit(run, engine, argv, message):
    code, out, err = run(*argv)
    assert code == 1 and message in err and "Traceback" not in err
    assert rows(engine, accounts) == [] and rows(engine, service_numbers) == [] and rows(engine, rates) == []


def test_duplicates_are_refused(run, engine):
    assert run("account", "create", "alice", "--password", "pass-word", "--pin", "482193")[0] == 0
    code, _, err = run("account", "create", "alice", "--password", "pass-word")
    assert code == 1 and "already taken" in err
    code, _, err = run("account", "create", "bob", "--password", "pass-word", "--pin", "482193")
    assert code == 1 and "PIN is already in use" in err
    assert run("account", "add-ani", "alice", "+14155550101")[0] == 0
    assert run("account", "add-ani", "alice", "+14155550101")[0] == 1
    assert run("number", "add", "+18005550000", "--mode", "pin")[0] == 0
    assert run("number", "add", "+1 800 555 0000", "--mode", "ani")[0] == 1
    assert len(rows(engine, accounts)) == 1 and len(rows(engine, anis)) == 1


def test_topup_adds_and_refuses_nonsense(run, engine):
    run("account", "create", "alice", "--password", "pass-word", "--balance", "1")
    assert run("account", "topup", "alice", "2.25") == (0, "alice balance 3.25 USD", "")
    assert run("account", "topup", "alice", "-5")[0] == 1
    assert run("account", "topup", "alice", "0.001")[0] == 1
    assert rows(engine, accounts)[0]["balance"] == 325


@pytest.mark.parametrize("amount", ["1E+999999999", "1E-999999999", "9E+9999999999999", "0.5E+99999999999"])
def test_an_absurd_exponent_is_refused_with_a_message(run, engine, amount):
    run("account", "create", "alice", "--password", "pass-word", "--balance", "1")
    code, _, err = run("account", "topup", "alice", amount)
    assert code == 1 and "not an amount" in err and "Traceback" not in err
    code, _, err = run("rate", "add", "44", amount)
    assert code == 1 and "not an amount" in err and "Traceback" not in err
    assert rows(engine, accounts)[0]["balance"] == 100 and rows(engine, rates) == []


def test_did_numbers_belong_to_an_account(run, engine):
    run("account", "create", "alice", "--password", "pass-word")
    assert run("number", "add", "+18005550004", "--mode", "did", "--account", "alice")[0] == 0
    (number,) = rows(engine, service_numbers)
    assert number["mode"] == "did" and number["account_id"] == rows(engine, accounts)[0]["id"]


def test_rate_import_is_all_or_nothing(run, engine, tmp_path):
    good = tmp_path / "rates.csv"
    good.write_text("prefix,price,increment\n1,0.01,60/60\n44,0.05,30/6\n447,0.20,1/1\n")
    assert run("rate", "import", str(good)) == (0, "3 rates imported", "")
    bad = tmp_path / "bad.csv"
    bad.write_text("prefix,price\n33,0.02\n34,free\n")
    code, _, err = run("rate", "import", str(bad))
    assert code == 1 and "line 3" in err
    prefixes = sorted(r["prefix"] for r in rows(engine, rates))
    assert prefixes == ["1", "44", "447"]
    assert {r["prefix"]: r["price_per_minute"] for r in rows(engine, rates)}["447"] == 200_000


def test_rate_add_updates_an_existing_prefix(run, engine):
    run("rate", "add", "44", "0.05")
    run("rate", "add", "+44", "0.04", "--increment", "30/6")
    (rate,) = rows(engine, rates)
    assert (rate["price_per_minute"], rate["first_increment"], rate["next_increment"]) == (40_000, 30, 6)


def test_token_create_prints_a_token_stored_hashed(run, engine):
    run("account", "create", "alice", "--password", "pass-word")
    code, token, _ = run("token", "create", "alice")
    assert code == 0 and token.startswith("cbp_")
    (stored,) = rows(engine, api_tokens)
    assert stored["token_hash"] != token and token not in stored["token_hash"]


def test_usage_errors_exit_2(run):
    with pytest.raises(SystemExit) as exc:
        run("number", "add", "+18005550000", "--mode", "carrier-pigeon")
    assert exc.value.code == 2


def test_account_set_changes_settings(run, engine):
    run("account", "create", "alice", "--password", "pass-word", "--default-number", "+14155550100")
    assert run("account", "set", "alice", "--confirm-mode", "amd", "--retry-attempts", "0")[0] == 0
    assert run("account", "set", "alice", "--default-number", "")[0] == 0
    (account,) = rows(engine, accounts)
    assert (account["confirm_mode"], account["retry_attempts"], account["default_number"]) == ("amd", 0, None)
    assert run("account", "set", "alice")[0] == 1
    assert run("account", "set", "alice", "--retry-attempts", "99")[0] == 1
    assert run("account", "set", "alice", "--default-number", "junk")[0] == 1


def test_policy_commands(run, engine):
    from app.data.tables import destination_rules

    run("account", "create", "alice", "--password", "pass-word")
    assert run("policy", "allow-country", "gb")[0] == 0
    assert run("policy", "deny-prefix", "+4470", "--account", "alice")[0] == 0
    assert run("policy", "allow-type", "premium_rate")[0] == 0
    assert run("policy", "allow-country", "GBR")[1:] == ("", "error: a country is a two-letter ISO code such as GB")
    code, out, _ = run("policy", "show")
    assert code == 0 and "allow_country GB" in out and "deny_prefix 4470 (account #1)" in out
    assert run("policy", "allow-country", "GB", "--remove")[0] == 0
    assert run("policy", "allow-country", "GB", "--remove")[0] == 1
    assert len(rows(engine, destination_rules)) == 2
    assert run("policy", "limits", "--max-call-minutes", "30", "--max-call-cost", "5.00") == (
        0, "max_call_cost 500, max_call_seconds 1800", "")


def test_tariffs_export_and_account_limits(run, engine, tmp_path):
    run("account", "create", "alice", "--password", "pass-word")
    assert run("rate", "add", "44", "0.05", "--increment", "30/6", "--connection-fee", "0.10", "--tariff", "gold")[0] == 0
    code, out, _ = run("rate", "export", "--tariff", "gold")
    assert out.splitlines() == ["prefix,price_per_minute,increment,connection_fee", "44,0.05,30/6,0.1"]
    exported = tmp_path / "gold.csv"
    exported.write_text(out)
    assert run("rate", "import", str(exported), "--tariff", "silver") == (0, "1 rates imported", "")
    assert run("account", "set", "alice", "--tariff", "gold", "--callback-tariff", "silver", "--max-concurrent", "5",
               "--max-call-minutes", "20", "--max-call-cost", "2.50")[0] == 0
    (account,) = rows(engine, accounts)
    assert (account["tariff"], account["callback_tariff"], account["max_concurrent"], account["max_call_seconds"],
            account["max_call_cost"]) == ("gold", "silver", 5, 1200, 250)


def test_lockouts_list(run):
    assert run("lockouts") == (0, "no failed authorizations in the last hour", "")


def test_topups_leave_an_audit_trail_and_operators_can_be_created(run, engine):
    from app.data.tables import balance_adjustments, operators

    run("account", "create", "alice", "--password", "pass-word")
    run("account", "topup", "alice", "5", "--note", "paid cash")
    (adjustment,) = rows(engine, balance_adjustments)
    assert (adjustment["amount"], adjustment["balance_after"], adjustment["actor"], adjustment["note"]) == (
        500, 500, "cli", "paid cash")
    assert run("operator", "create", "root", "--password", "short")[0] == 1
    assert run("operator", "create", "root", "--password", "a-long-password")[0] == 0
    assert run("operator", "create", "root", "--password", "a-long-password")[0] == 1
    (operator,) = rows(engine, operators)
    assert operator["password_hash"].startswith("$argon2")


def _commands(parser, path=()):
    """(command words, its option strings) for every command the parser knows."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, [a.option_strings[-1] for a in parser._actions
                     if a.option_strings and not isinstance(a, argparse._HelpAction)]
        return
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _commands(child, (*path, name))


def test_the_readme_lists_every_command_and_option():
    from pathlib import Path

    from app.cli.main import build_parser

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("callback-platform ")]
    missing = []
    for words, options in _commands(build_parser()):
        command = "callback-platform " + " ".join(words)
        described = [line for line in lines if line == command or line.startswith(command + " ")]
        if not described:
            missing.append(command)
            continue
        # An option may sit on a continuation line of its command.
        start = section.index(described[0])
        rest = section[start:].split("\ncallback-platform ", 1)[0]
        missing += [f"{command} {option}" for option in options if option not in rest]
    assert missing == []


def test_the_operator_sets_the_shortest_pin(run, engine, settings):
    """PIN_MIN_LENGTH (PRODUCT.md: the operator sets the minimum): shorter PINs are refused, at the CLI too."""
    from app.cli import main as cli

    longer = settings.with_(pin_min_length=8)
    assert cli.main(["account", "create", "carol", "--password", "pass-word", "--pin", "481516"], settings=longer) == 1
    assert cli.main(["account", "create", "carol", "--password", "pass-word", "--pin", "48151623"],
                    settings=longer) == 0


def test_pin_min_length_is_four_to_twelve():
    from app.core.settings import load_settings

    assert load_settings({"PIN_MIN_LENGTH": "8"}, env_file=None).pin_min_length == 8
    for wrong in ("3", "13"):
        with pytest.raises(SystemExit, match="PIN_MIN_LENGTH"):
            load_settings({"PIN_MIN_LENGTH": wrong}, env_file=None)


def test_routes_and_providers_marked_down(run, engine, settings):
    from app.data.tables import provider_routes, provider_states

    assert run("route", "add", "+44", "twilio", "0.0125") == (0, "route 44 via twilio: 0.0125/min", "")
    code, out, _ = run("route", "add", "44", "telnyx", "0.011")
    assert code == 0 and "not in PROVIDERS=twilio" in out  # kept, unused until configured
    assert run("route", "add", "44", "twilio", "0.012")[0] == 0  # changed, not added twice
    assert {(r["prefix"], r["provider"], r["cost_per_minute"]) for r in rows(engine, provider_routes)} == {
        ("44", "twilio", 12_000), ("44", "telnyx", 11_000)}
    for argv, message in [(("route", "add", "44", "acme", "0.01"), "unknown provider"),
                          (("route", "add", "4x", "twilio", "0.01"), "digits"),
                          (("route", "add", "44", "twilio", "-0.01"), "negative"),
                          (("route", "add", "44", "twilio", "0.0000001"), "decimals"),
                          (("route", "remove", "1", "twilio"), "no route")]:
        code, _, err = run(*argv)
        assert code == 1 and message in err, (argv, err)
    assert run("route", "down", "twilio", "--note", "carrier incident")[0] == 0
    assert run("route", "list")[1].splitlines() == ["providers: twilio (down)", "44 telnyx 0.011/min",
                                                    "44 twilio 0.012/min"]
    assert run("route", "up", "twilio")[0] == 0
    assert [(r["provider"], r["down"]) for r in rows(engine, provider_states)] == [("twilio", False)]
    assert run("route", "remove", "44", "telnyx")[0] == 0
    assert [r["provider"] for r in rows(engine, provider_routes)] == ["twilio"]


def test_did_direct_numbers_connect_a_destination_checked_when_set(run, engine):
    run("account", "create", "alice", "--password", "pass-word", "--time-zone", "Europe/Paris")
    run("rate", "add", "1", "0.01")
    assert rows(engine, accounts)[0]["time_zone"] == "Europe/Paris"
    code, _, err = run("number", "add", "+18005550009", "--mode", "did-direct", "--account", "alice")
    assert code == 1 and "--destination" in err
    code, _, err = run("number", "add", "+18005550009", "--mode", "did-direct", "--account", "alice",
                       "--destination", "+19005550123")  # premium rate: blocked by default
    assert code == 1 and "blocked" in err
    code, _, err = run("number", "add", "+18005550009", "--mode", "did-direct", "--account", "alice",
                       "--destination", "+442071234567")  # no rate for the UK here
    assert code == 1 and "no rate" in err
    code, _, err = run("number", "add", "+18005550008", "--mode", "pin", "--destination", "2125550123")
    assert code == 1 and "did-direct" in err
    assert rows(engine, service_numbers) == []
    assert run("number", "add", "+18005550009", "--mode", "did-direct", "--account", "alice",
               "--destination", "(212) 555-0123")[0] == 0
    (number,) = rows(engine, service_numbers)
    assert (number["mode"], number["destination"]) == ("did-direct", "+12125550123")
    assert run("account", "set", "alice", "--time-zone", "Mars/Olympus")[0] == 1
    assert run("account", "set", "alice", "--time-zone", "America/New_York")[0] == 0
    assert rows(engine, accounts)[0]["time_zone"] == "America/New_York"
