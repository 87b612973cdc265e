import string
import time

import pytest
from hypothesis import given, settings, strategies as st

from app.calls import sms_commands
from app.calls.sms_commands import (
    Balance,
    ByLogin,
    ByPin,
    BySender,
    Call,
    Command,
    Help,
    Invalid,
    OptIn,
    OptOut,
    Rate,
    Register,
    Verify,
    parse,
)

SENDER = BySender()
COMMAND_TYPES = (Call, Register, Balance, Rate, Help, OptOut, OptIn, Invalid)
# Every Invalid the module can return is one of its constants, so no reason can echo the input.
REASONS = {value.reason for value in vars(sms_commands).values() if isinstance(value, Invalid)}


def assert_safe(result, text):
    assert isinstance(result, COMMAND_TYPES)
    assert isinstance(result, Command)
    if isinstance(result, Invalid):
        assert result.reason in REASONS
        assert result.reason.isascii() and len(result.reason) <= 60


# --- calls authorized by the sender's number --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", None, "   ", ",,#;\n\t ", "CALL", "call", " Call ", "\nCALL\n", "#call#", "CaLl;", "call!"],
)
def test_empty_or_call_alone_asks_the_ivr_for_the_destination(text):
    assert parse(text) == Call(SENDER, None, None)


NUMBERS = [
    ("+442071234567", "+442071234567"),
    ("00442071234567", "00442071234567"),
    ("011442071234567", "011442071234567"),
    ("4155550123", "4155550123"),
    ("415-555-0123", "4155550123"),
    ("(415)555-0123", "4155550123"),
    ("(415)-555-0123", "4155550123"),
    ("(415) 555-0123", "4155550123"),
    ("+1.415.555.0123", "+14155550123"),
    ("+1(415)555-0123", "+14155550123"),
    ("+1 (415) 555-0123", "+14155550123"),
    ("02071234567", "02071234567"),
    ("0033123456789", "0033123456789"),
    ("0612345678", "0612345678"),
    ("001234567", "001234567"),
    ("00123456", "00123456"),
    ("0111234567", "0111234567"),
    ("011123456", "011123456"),
    ("112", "112"),
    ("12345678901234567", "12345678901234567"),
    ("+12345678901234567", "+12345678901234567"),
    ("\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff12\uff13", "4155550123"),  # full-width digits
]


@pytest.mark.parametrize("typed, expected", NUMBERS)
@pytest.mark.parametrize("template", ["{}", "CALL {}", "call\n{}", " Call,{}# ", ";;{};;", "CALL\t\t{}\n"])
def test_one_number_is_the_destination(typed, expected, template):
    assert parse(template.format(typed)) == Call(SENDER, None, expected)


@pytest.mark.parametrize(
    "text, first, destination",
    [
        ("4155550123 +442071234567", "4155550123", "+442071234567"),
        ("CALL 4155550123, 00442071234567", "4155550123", "00442071234567"),
        ("call 4155550123\n4155550124", "4155550123", "4155550124"),
        ("#415-555-0123#011442071234567#", "4155550123", "011442071234567"),
        ("(415) 555-0123 +1 (212) 555-0199", "4155550123", "+12125550199"),
        ("+33612345678;0612345678", "+33612345678", "0612345678"),
    ],
)
def test_two_numbers_connect_first_then_destination(text, first, destination):
    assert parse(text) == Call(SENDER, first, destination)


# --- PIN and login -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("PIN 1234", Call(ByPin("1234"), None, None)),
        ("pin1234", Call(ByPin("1234"), None, None)),
        ("Pin: 1234 call", Call(ByPin("1234"), None, None)),
        ("PIN 1234 4155550123", Call(ByPin("1234"), None, "4155550123")),
        ("PIN:1234 +442071234567", Call(ByPin("1234"), None, "+442071234567")),
        ("pin.123456 4155550123 00442071234567", Call(ByPin("123456"), "4155550123", "00442071234567")),
        ("PIN 1234 CALL 4155550123", Call(ByPin("1234"), None, "4155550123")),
        ("#PIN#1234#4155550123#", Call(ByPin("1234"), None, "4155550123")),
        ("PIN.\n123456789012\n(415) 555-0123", Call(ByPin("123456789012"), None, "4155550123")),
        ("PIN \uff11\uff12\uff13\uff14", Call(ByPin("1234"), None, None)),
    ],
)
def test_pin_forms(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("U.alice P.s3cret", Call(ByLogin("alice", "s3cret"), None, None)),
        ("u.alice p.s3cret 4155550123", Call(ByLogin("alice", "s3cret"), None, "4155550123")),
        ("U:alice P:pa.ss:w0rd! 4155550123 +442071234567", Call(ByLogin("alice", "pa.ss:w0rd!"), "4155550123", "+442071234567")),
        ("U. alice P. secret CALL 4155550123", Call(ByLogin("alice", "secret"), None, "4155550123")),
        ("U.Alice P.SeCrEt", Call(ByLogin("Alice", "SeCrEt"), None, None)),
        ("U.josé P.мир", Call(ByLogin("josé", "мир"), None, None)),
        ("U.admin'-- P.x'OR'1'='1", Call(ByLogin("admin'--", "x'OR'1'='1"), None, None)),
    ],
)
def test_login_forms_keep_login_and_password_as_typed(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text, phone",
    [
        ("U.alice P.secret R.4155550123", "4155550123"),
        ("u:alice p:secret r:00442071234567", "00442071234567"),
        ("U.alice P.secret R. (415) 555-0123", "4155550123"),
        ("U.alice,P.secret,r.+14155550123", "+14155550123"),
    ],
)
def test_register_an_ani(text, phone):
    assert parse(text) == Register(ByLogin("alice", "secret"), phone)


# --- balance, rate, help, opt-out, opt-in ----------------------------------------------------


@pytest.mark.parametrize(
    "text, auth",
    [
        ("BAL", SENDER),
        ("bal", SENDER),
        ("Balance", SENDER),
        (" balance? ", SENDER),
        ("PIN 1234 BAL", ByPin("1234")),
        ("pin:1234,balance", ByPin("1234")),
        ("U.a P.b bal", ByLogin("a", "b")),
    ],
)
def test_balance(text, auth):
    assert parse(text) == Balance(auth)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("RATE 442071234567", Rate(SENDER, "442071234567")),
        ("rate 00442071234567", Rate(SENDER, "00442071234567")),
        ("Rate\n+1 (415) 555-0123", Rate(SENDER, "+14155550123")),
        ("PIN 1234 RATE 4155550123", Rate(ByPin("1234"), "4155550123")),
        ("U.a P.b rate +33123456789", Rate(ByLogin("a", "b"), "+33123456789")),
    ],
)
def test_rate(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["HELP", "help", "Info", "help?", "HELP me please", "PIN 1234 HELP", "#info#"])
def test_help(text):
    assert parse(text) == Help()


@pytest.mark.parametrize("keyword", ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"])
@pytest.mark.parametrize("template", ["{}", " {} ", "{}!", "{}.", "{} texting me", "\u200f{}", "\ufeff{}\n"])
def test_opt_out_wins_whatever_follows(keyword, template):
    for word in (keyword, keyword.lower(), keyword.title()):
        assert parse(template.format(word)) == OptOut()


@pytest.mark.parametrize("text", ["START", "yes", "Unstop", "optin", " YES! ", "\uff33\uff34\uff21\uff32\uff34"])
def test_opt_in(text):
    assert parse(text) == OptIn()


def test_opt_in_must_stand_alone():
    assert isinstance(parse("yes please"), Invalid)


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, reason",
    [
        ("PIN 123", "a PIN is 4 to 12 digits"),
        ("PIN 1234567890123", "a PIN is 4 to 12 digits"),
        ("PIN abcd", "a PIN is 4 to 12 digits"),
        ("PIN", "a PIN is 4 to 12 digits"),
        ("PIN BAL", "a PIN is 4 to 12 digits"),
        ("PIN 12-34", "a PIN is 4 to 12 digits"),
        ("PIN \u0661\u0662\u0663\u0664", "a PIN is 4 to 12 digits"),
        ("U.", "login missing; send U.login P.password"),
        ("U.alice", "password missing; send U.login P.password"),
        ("U.alice P.", "password missing; send U.login P.password"),
        ("U.alice 4155550123", "password missing; send U.login P.password"),
        ("R.4155550123", "R. needs U.login P.password before it"),
        ("PIN 1234 R.4155550123", "R. needs U.login P.password before it"),
        ("U.a P.b R.", "R. needs one phone number"),
        ("U.a P.b R.4155550123 4155550124", "too many numbers; type each number without spaces"),
        ("BAL 4155550123", "BAL takes no number"),
        ("RATE", "RATE needs one phone number"),
        ("RATE +44 2071234567", "too many numbers; type each number without spaces"),
        ("12", "a phone number has 3 to 17 digits"),
        ("+12", "a phone number has 3 to 17 digits"),
        ("1" * 18, "a phone number has 3 to 17 digits"),
        ("00" + "1" * 18, "a phone number has 3 to 17 digits"),
        ("+44 20 7123 4567", "too many numbers; type each number without spaces"),
        ("4155550123 4155550124 4155550125", "too many numbers; type each number without spaces"),
        ("CALL 4155550123 4155550124 4155550125", "too many numbers; type each number without spaces"),
        ("415--555-0123", "not a phone number"),
        ("415-555-", "not a phone number"),
        ("+", "not understood; text HELP for the commands"),
        ("+1+4155550123", "not a phone number"),
        ("(415)", "not a phone number"),
        ("415)555(0123", "not a phone number"),
        ("1-800-FLOWERS", "not a phone number"),
        ("\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0662\u0663", "not a phone number"),
        ("hello", "not understood; text HELP for the commands"),
        ("call me maybe", "not understood; text HELP for the commands"),
        ("CALL PIN 1234", "not understood; text HELP for the commands"),
        ("P.secret U.alice", "not understood; text HELP for the commands"),
    ],
)
def test_refusals_say_why(text, reason):
    assert parse(text) == Invalid(reason)


# --- hostile input -------------------------------------------------------------------------

HOSTILE = [
    "1" * 5000,
    "CALL " + "4" * 4995,
    "a " * 2500,
    "\U0001f600" * 5000,
    " " * 4000 + "BAL",
    "\ufdfa" * 1600,  # NFKC expands each to 18 characters
    "\U0001f4de 4155550123",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\u202eSTOP\u202c 4155550123",
    "\x00",
    "\x00\x1b[31m",
    "\x1b[31mBAL",
    "BAL\x00\x00",
    "'; DROP TABLE accounts;--",
    "PIN 1234'; DROP TABLE accounts;--",
    "4155550123'); DELETE FROM calls;--",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "{{7*7}} ${jndi:ldap://x}",
    ",;#\n\t ",
    "\ud800",
    "\u200b\u200c\u200d\ufeff",
    "\u0000PIN\u00001234",
    "%s%s%s%n",
    "../../etc/passwd",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_gets_a_command_and_never_an_echo(text):
    result = parse(text)
    assert_safe(result, text)
    if isinstance(result, Invalid):
        for payload in ("DROP", "DELETE", "<", "{", "$", "%", "/", "\x00"):
            assert payload not in result.reason


@pytest.mark.parametrize("text", ["1" * 5000, "CALL " + "4" * 4995, "\U0001f600" * 5000, " " * 1601])
def test_bodies_longer_than_a_long_sms_are_refused(text):
    assert parse(text) == Invalid("message too long")


def test_long_bodies_are_parsed_in_bounded_time():
    bodies = ["1" * 5000, "a," * 2500, "\ufdfa" * 1600, "(1)" * 533, "1-" * 800]
    start = time.perf_counter()
    for body in bodies * 20:
        parse(body)
    assert time.perf_counter() - start < 2


def test_separators_do_not_count_against_the_length_but_content_does():
    assert parse("BAL" + " " * 1597) == Balance(SENDER)
    assert parse(" " * 1000 + "4155550123") == Call(SENDER, None, "4155550123")
    assert parse("4" * 321) == Invalid("message too long")
    # Never truncated: a cut through the number would dial a wrong one.
    assert parse("CALL" + "," * 310 + " 4155550123") == Invalid("message too long")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\u200fBAL\u200f", Balance(SENDER)),
        ("B\u200bAL", Balance(SENDER)),
        ("\ufeffSTOP", OptOut()),
        ("4155\u200d550123", Call(SENDER, None, "4155550123")),
        ("\u202a+442071234567\u202c", Call(SENDER, None, "+442071234567")),
        ("BAL\x00", Balance(SENDER)),
        ("\x00", Call(SENDER, None, None)),
        ("\u200b", Call(SENDER, None, None)),
        ("PIN\u00a01234\u2028BAL", Balance(ByPin("1234"))),
        ("\uff30\uff29\uff2e\u30001234", Call(ByPin("1234"), None, None)),  # full-width PIN, ideographic space
        ("p\u0131n 1234", Invalid("not understood; text HELP for the commands")),  # dotless i is not an I
    ],
)
def test_invisible_and_compatibility_characters(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("value", [12345, b"STOP", ["BAL"], 4.5])
def test_non_text_is_invalid(value):
    assert parse(value) == Invalid("not a text message")


# --- secrets stay out of logs -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, secret",
    [
        ("PIN 987654 4155550123", "987654"),
        ("PIN:987654 BAL", "987654"),
        ("U.alice P.hunter2 4155550123", "hunter2"),
        ("U.alice P.hunter2 R.4155550123", "hunter2"),
        ("U.alice P.hunter2 RATE 4155550123", "hunter2"),
    ],
)
def test_repr_hides_pin_and_password(text, secret):
    result = parse(text)
    assert not isinstance(result, Invalid)
    assert secret not in repr(result)
    assert secret not in str(result)


def test_commands_are_frozen_values():
    command = parse("PIN 1234 4155550123")
    with pytest.raises(AttributeError):
        command.destination = "911"
    assert hash(command) == hash(parse("pin1234,4155550123"))


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=500)
@given(st.text())
def test_any_text_gives_a_command(text):
    assert_safe(parse(text), text)


COMMAND_ALPHABET = st.sampled_from(
    list("0123456789+-.()  \t\n,#;:PINpinURrCALBTESOHYQ!?") + ["\u0664", "\u200f", "\u200b", "\x00", "\uff11", "\u00a0"]
)


@settings(max_examples=500)
@given(st.text(COMMAND_ALPHABET, max_size=60))
def test_command_like_text_gives_a_command(text):
    assert_safe(parse(text), text)


@given(st.text(max_size=40), st.text(max_size=40))
def test_any_text_around_a_command_gives_a_command(before, after):
    text = before + " PIN 1234 U.a P.b R.4155550123 " + after
    assert_safe(parse(text), text)


SEPARATORS = st.text(" \t\n,#;", min_size=1, max_size=3)
SECRET_CHARS = "".join(ch for ch in string.printable if not ch.isspace() and ch not in ",#;")


def random_case(draw, word):
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(ch.upper() if flip else ch.lower() for ch, flip in zip(word, flips))


@st.composite
def typed_numbers(draw):
    """(as typed, as parsed)."""
    kind = draw(st.sampled_from(["national", "+", "00", "011"]))
    least = {"national": 2, "+": 2, "00": 6, "011": 6}[kind]
    digits = draw(st.from_regex(rf"[1-9][0-9]{{{least},16}}", fullmatch=True))
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=3)))
    punctuation = draw(st.sampled_from("-."))
    pieces = [digits[i:j] for i, j in zip([0, *cuts], [*cuts, len(digits)])]
    typed = punctuation.join(pieces)
    if kind == "national":
        return typed, digits
    if kind == "+":
        return "+" + typed, "+" + digits
    return kind + typed, kind + digits  # 00 / 011 are left for the account's country to read


@st.composite
def auths(draw):
    """(tokens, Auth)."""
    kind = draw(st.sampled_from(["sender", "pin", "login"]))
    if kind == "sender":
        return [], SENDER
    if kind == "pin":
        pin = draw(st.from_regex(r"[0-9]{4,12}", fullmatch=True))
        label = random_case(draw, draw(st.sampled_from(["PIN", "PIN:", "PIN."])))
        return ([label + pin] if draw(st.booleans()) else [label, pin]), ByPin(pin)
    login = draw(st.text(SECRET_CHARS, min_size=1, max_size=12))
    password = draw(st.text(SECRET_CHARS, min_size=1, max_size=12))
    user = random_case(draw, draw(st.sampled_from(["U.", "U:"])))
    pass_ = random_case(draw, draw(st.sampled_from(["P.", "P:"])))
    return [user + login, pass_ + password], ByLogin(login, password)


@st.composite
def commands(draw):
    """(tokens, expected Command) for every valid form."""
    auth_tokens, auth = draw(auths())
    kinds = ["call", "balance", "rate", "help", "opt-out", "opt-in"] + ["register"] * isinstance(auth, ByLogin)
    kind = draw(st.sampled_from(kinds))
    word = lambda *choices: random_case(draw, draw(st.sampled_from(choices)))  # noqa: E731
    if kind == "call":
        typed = draw(st.lists(typed_numbers(), max_size=2))
        prefix = [word("CALL")] if draw(st.booleans()) else []
        first, destination = ([None, None] + [expected for _, expected in typed])[-2:]
        return auth_tokens + prefix + [t for t, _ in typed], Call(auth, first, destination)
    if kind == "balance":
        return auth_tokens + [word("BAL", "BALANCE")], Balance(auth)
    if kind == "rate":
        typed, expected = draw(typed_numbers())
        return auth_tokens + [word("RATE"), typed], Rate(auth, expected)
    if kind == "register":
        typed, expected = draw(typed_numbers())
        label = word("R.", "R:")
        return auth_tokens + ([label + typed] if draw(st.booleans()) else [label, typed]), Register(auth, expected)
    if kind == "help":
        return [word("HELP", "INFO")], Help()
    if kind == "opt-out":
        return [word(*sorted(sms_commands._OPT_OUT))], OptOut()
    return [word(*sorted(sms_commands._OPT_IN))], OptIn()


@settings(max_examples=500)
@given(commands(), st.data())
def test_valid_commands_round_trip(command, data):
    tokens, expected = command
    gaps = [data.draw(SEPARATORS) for _ in tokens]
    text = "".join(gap + token for gap, token in zip(gaps, tokens))
    text = data.draw(st.sampled_from(["", " ", "\n", "#"])) + text + data.draw(st.sampled_from(["", " ", ",", ";\n"]))
    assert parse(text) == expected


# --- redaction: what is stored of a text ------------------------------------------------------


def _secret_of(command):
    auth = getattr(command, "auth", None)
    return auth.pin if isinstance(auth, ByPin) else auth.password if isinstance(auth, ByLogin) else None


@settings(max_examples=500)
@given(commands(), st.data())
def test_redacted_commands_keep_no_secret(command, data):
    tokens, expected = command
    gaps = [data.draw(SEPARATORS) for _ in tokens]
    text = "".join(gap + token for gap, token in zip(gaps, tokens))
    secret = _secret_of(expected)
    redacted = sms_commands.redact(text)
    if secret is None:
        return
    # The parser reading the stored text finds no usable secret in it.
    assert _secret_of(parse(redacted)) in (None, "***")
    assert sms_commands.REDACTED in redacted


@settings(max_examples=300)
@given(st.text(COMMAND_ALPHABET, max_size=60))
def test_whatever_the_parser_takes_for_a_secret_is_redacted(text):
    secret = _secret_of(parse(text))
    if secret is not None:
        assert _secret_of(parse(sms_commands.redact(text))) in (None, "***")


@pytest.mark.parametrize("text, stored", [
    ("PIN 482193 CALL +442071234567", "PIN *** CALL +442071234567"),
    ("pin,482193", "pin ***"),
    ("PIN#482193#BAL", "PIN *** BAL"),
    ("Pin:482193", "Pin:***"),
    ("PIN482193", "PIN***"),
    ("\uff30\uff29\uff2e\uff14\uff18\uff12\uff11\uff19\uff13", "PIN***"),
    ("P\u200bIN 482193", "PIN ***"),
    ("U.alice P.secret CALL 4155550123", "U.alice P.*** CALL 4155550123"),
    ("u:alice, p: secret", "u:alice p: ***"),
    ("password hunter2", "password ***"),
    ("CALL +442071234567", "CALL +442071234567"),
    ("Pink Floyd, please", "Pink Floyd, please"),
    ("VERIFY 482193", "VERIFY ***"),
    ("verify,482193", "verify ***"),
    ("Verify! \uff14\uff18\uff12\uff11\uff19\uff13", "Verify! ***"),
    ("VERIFY 482 193", "VERIFY *** ***"),
    ("VERIFY", "VERIFY"),
])
def test_redact(text, stored):
    assert sms_commands.redact(text) == stored


@settings(max_examples=200)
@given(st.text(" \t\n,#;", max_size=2), st.sampled_from(["VERIFY", "verify", "Verify!", "VERIFY:", "\uff36ERIFY"]),
       SEPARATORS, st.text("0123456789\uff10\uff11\uff19", min_size=6, max_size=6), st.text(" ,;\n", max_size=2))
def test_a_verify_code_the_parser_takes_is_redacted(before, keyword, gap, code, after):
    text = before + keyword + gap + code + after
    command = parse(text)
    if isinstance(command, Verify):
        redacted = sms_commands.redact(text)
        assert command.code not in redacted and code not in redacted, redacted


# --- scheduled: CALL <dest> AT <hh:mm> -----------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("CALL 2125550123 AT 18:30", Call(SENDER, None, "2125550123", (18, 30))),
    ("call,2125550123,at,7.05", Call(SENDER, None, "2125550123", (7, 5))),
    ("2125550123 at 23h59", Call(SENDER, None, "2125550123", (23, 59))),
    ("CALL AT 0:00", Call(SENDER, None, None, (0, 0))),
    ("PIN 482193 4155550123 2125550123 AT 18:30", Call(ByPin("482193"), "4155550123", "2125550123", (18, 30))),
])
def test_at_schedules_the_call(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["CALL 2125550123 AT", "CALL 2125550123 AT 24:00", "CALL 2125550123 AT 18:60",
                                  "CALL 2125550123 AT 18:30:00", "CALL 2125550123 AT noon", "CALL 212 AT ١٨:٣٠"])
def test_at_without_a_time_of_day_says_so(text):
    assert parse(text) == sms_commands.BAD_CLOCK
