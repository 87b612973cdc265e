"""The SMS command language: the body of a text to a service number -> a Command.

Pure (no I/O, database or phone-number library); `parse` never raises and does bounded
work on any input, so a webhook can hand it untrusted text as is. Case-insensitive;
tokens are separated by runs of whitespace, ',', '#' or ';'. `auth` is nothing (the
sender's number is the ANI), `PIN <pin>` (also PIN<pin>, PIN:<pin>, PIN.<pin>) or
`U.<login> P.<password>` (also U:/P:; login and password are any non-separators).

    (empty) | CALL                    Call(BySender(), None, None)
    [auth] [CALL] [[<first>] <dest>]  Call(auth, first, dest)
    ... AT <hh:mm>                    Call(auth, first, dest, at=(hh, mm)): scheduled (18:30, 7:05, 18.30, 18h30)
    U.<login> P.<password> R.<phone>  Register(ByLogin(...), phone)
    VERIFY <code>                     Verify(code): the code texted to this phone by R. or the portal
    [auth] BAL | BALANCE              Balance(auth)
    [auth] RATE <dest>                Rate(auth, dest)
    [auth] TOPUP <voucher code>       Topup(auth, code): the code's digits, in groups or with dashes
    HELP | INFO ...                   Help()
    STOP | STOPALL | UNSUBSCRIBE | CANCEL | END | QUIT | OPTOUT | REVOKE ...  OptOut()
    START | YES | UNSTOP | OPTIN      OptIn()

An opt-out word first wins whatever follows ("Stop texting me"): texting someone who
asked us to stop is worse than missing a command; opt-in must stand alone. A trailing
. ! ? or : on a keyword is ignored ("Stop!", "BAL?").

Numbers: ASCII digits, an optional leading '+', single '-' or '.' between digit groups,
at most one parenthesised group (+442071234567, 415-555-0123, (415)555-0123). Separators
always end a number: '+44 20 7123 4567' is four tokens, refused rather than guessed at.
Only exception: a token ending in ')' joins the next one ('(415) 555-0123'), and one
starting with '(' joins a '+<1-3 digits>' before it ('+1 (415) 555-0123'); such pieces
are never whole numbers, so no join swallows a second number. Output: the digits, with
'+' if typed; 3 to 17 digits. National numbers and 00 / 011 prefixes are left to the
caller, who knows the account's country: 011 is the way out of the US, but 0113 is Leeds.

Text is NFKC-normalised (full-width -> ASCII; Arabic-Indic digits stay non-digits), then
format and control characters (RTL marks, zero-width spaces, BOM, NUL, ESC) are dropped,
logins and passwords included; line breaks and tabs separate. None is an empty body.
Invalid reasons are the constants below: short, safe to text back, never an echo.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MAX_SMS = 1600  # ten concatenated parts; longer is not a person typing a command
MAX_COMMAND = 320  # far beyond the longest real command; bounds all the work below


@dataclass(frozen=True)
class BySender:
    """The sender's number (ANI) is the authorization."""


@dataclass(frozen=True)
class ByPin:
    pin: str = field(repr=False)  # commands get logged


@dataclass(frozen=True)
class ByLogin:
    login: str
    password: str = field(repr=False)


Auth = BySender | ByPin | ByLogin


@dataclass(frozen=True)
class Call:
    auth: Auth
    first: str | None  # None: the sender, or the account's default number
    destination: str | None  # None: the IVR asks for it
    at: tuple[int, int] | None = None  # (hour, minute) on the account's clock: scheduled; None: now


@dataclass(frozen=True)
class Register:
    auth: ByLogin
    phone: str  # to add to the account's ANIs (caller IDs)


@dataclass(frozen=True)
class Verify:
    code: str = field(repr=False)  # the sender's number is the phone it proves


@dataclass(frozen=True)
class Balance:
    auth: Auth


@dataclass(frozen=True)
class Rate:
    auth: Auth
    destination: str


@dataclass(frozen=True)
class Topup:
    auth: Auth
    code: str = field(repr=False)  # as typed (digits, spaces and dashes): app/core/voucher_codes.py reads it


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class OptIn:
    pass


@dataclass(frozen=True)
class Invalid:
    reason: str


Command = Call | Register | Verify | Balance | Rate | Topup | Help | OptOut | OptIn | Invalid

_OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
_OPT_IN = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
_HELP = frozenset({"HELP", "INFO"})
_BALANCE = frozenset({"BAL", "BALANCE"})
_VERIFY = "VERIFY"
_TOPUP = "TOPUP"

# re.ASCII: case-insensitivity must not let non-ASCII letters (dotless i...) spell a keyword.
_PIN = re.compile(r"PIN[:.]?", re.I | re.A)
_USER = re.compile(r"U[:.]", re.I | re.A)
_PASSWORD = re.compile(r"P[:.]", re.I | re.A)
_REGISTER = re.compile(r"R[:.]", re.I | re.A)
_PIN_DIGITS = re.compile(r"[0-9]{4,12}")
_CODE_DIGITS = re.compile(r"[0-9]{6}")
_VOUCHER = re.compile(r"[0-9][0-9-]{0,39}")
# [0-9], not \d: \d would accept Arabic-Indic and other non-ASCII digits.
_NUMBER = re.compile(r"\+?(?:[0-9]*\([0-9]+\)[-.]?)?[0-9]+(?:[-.][0-9]+)*")
_COUNTRY_CODE = re.compile(r"\+[0-9]{1,3}")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3])[:.hH]([0-5][0-9])")
_SEPARATORS = frozenset(",#;\t\n\v\f\r\x85")

_NOT_TEXT = Invalid("not a text message")
_TOO_LONG = Invalid("message too long")
_UNKNOWN = Invalid("not understood; text HELP for the commands")
_BAD_PIN = Invalid("a PIN is 4 to 12 digits")
_NO_LOGIN = Invalid("login missing; send U.login P.password")
_NO_PASSWORD = Invalid("password missing; send U.login P.password")
_REGISTER_AUTH = Invalid("R. needs U.login P.password before it")
_REGISTER_ONE = Invalid("R. needs one phone number")
_BALANCE_ALONE = Invalid("BAL takes no number")
_VERIFY_CODE = Invalid("VERIFY needs the 6-digit code")
_RATE_ONE = Invalid("RATE needs one phone number")
_TOPUP_CODE = Invalid("TOPUP needs the voucher code")
_BAD_NUMBER = Invalid("not a phone number")
_NUMBER_LENGTH = Invalid("a phone number has 3 to 17 digits")
_TOO_MANY = Invalid("too many numbers; type each number without spaces")
BAD_CLOCK = Invalid("AT needs a time of day, e.g. AT 18:30")


def parse(text: str | None) -> Command:
    if text is None:
        text = ""
    if not isinstance(text, str):
        return _NOT_TEXT
    if len(text) > MAX_SMS:
        return _TOO_LONG
    body = _clean(text).strip()
    # Refuse rather than truncate: a cut through the last number would dial a wrong one.
    if len(body) > MAX_COMMAND:
        return _TOO_LONG
    tokens = body.split()
    if not tokens:
        return Call(BySender(), None, None)
    word = _word(tokens[0])
    if word in _OPT_OUT:
        return OptOut()
    if word in _HELP:
        return Help()
    if word in _OPT_IN:
        return OptIn() if len(tokens) == 1 else _UNKNOWN
    if word == _VERIFY:
        return Verify(tokens[1]) if len(tokens) == 2 and _CODE_DIGITS.fullmatch(tokens[1]) else _VERIFY_CODE
    auth, rest = _auth(tokens)
    if isinstance(auth, Invalid):
        return auth
    return _action(auth, rest)


# Labels whose value is a secret: the parser's PIN and P. (password), and the
# spellings people use when they get the syntax wrong (PASS, PWD...). The value
# follows the label in the same token or, if the label stands alone, is the next token.
_SECRET_LABEL = re.compile(r"(PIN|P|PASS|PASSWORD|PASSWD|PWD|PW)(?:[:.=]|(?<=N)(?=[0-9])|$)", re.I | re.A)
REDACTED = "***"


def redact(text: str | None) -> str | None:
    """The text with every PIN, password, VERIFY code and voucher code replaced by ***, for storing and logging.

    It reads the text as the parser does (NFKC, the same separators, invisible
    characters dropped), so a secret the parser would accept is found however it
    was spelt: 'pin,482193', 'PIN#482193', 'ＰＩＮ４８２１９３', 'u.alice p:secret'. A text
    with a secret is stored in that cleaned form; any other text is left as it was.
    """
    if not text:
        return text
    tokens = _clean(text[:MAX_SMS]).split()
    if tokens and _word(tokens[0]) == _VERIFY and len(tokens) > 1:
        # 'VERIFY <code>': whatever follows the keyword may be the code.
        return " ".join([tokens[0]] + [REDACTED] * (len(tokens) - 1))
    out, found, hide_next, voucher = [], False, False, False
    for token in tokens:
        if voucher:
            # Everything after TOPUP is the voucher code: as good as money until it is redeemed.
            out.append(REDACTED)
            found = True
            continue
        if _word(token) == _TOPUP:
            out.append(token)
            voucher = True
            continue
        if hide_next:
            out.append(REDACTED)
            found, hide_next = True, False
            continue
        label = _SECRET_LABEL.match(token)
        if label and (label.end() < len(token) or label.group(0) != label.group(1) or label.group(1).upper() in
                      ("PIN", "PASS", "PASSWORD", "PASSWD", "PWD")):
            if label.end() < len(token):
                out.append(token[:label.end()] + REDACTED)
                found = True
            else:
                out.append(token)
                hide_next = True
            continue
        out.append(token)
    return " ".join(out) if found or hide_next else text


def _clean(text: str) -> str:
    """NFKC, separators -> ' ', invisible and control characters dropped."""
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(ch)
        if ch in _SEPARATORS or category in ("Zs", "Zl", "Zp"):
            out.append(" ")
        elif category not in ("Cc", "Cf"):
            out.append(ch)
    return "".join(out)


def _word(token: str) -> str:
    # isascii first: str.upper() maps some non-ASCII letters onto ASCII ones ("ı" -> "I").
    return token.upper().rstrip(".!?:") if token.isascii() else ""


def _take(tokens: list[str], label: re.Pattern[str]) -> tuple[str, list[str]] | None:
    """The value after a label ('PIN1234', 'U.alice'), or the next token if the label
    stands alone ('PIN: 1234'); None if tokens[0] has no such label."""
    match = label.match(tokens[0])
    if not match:
        return None
    value = tokens[0][match.end() :]
    if value or len(tokens) == 1:
        return value, tokens[1:]
    return tokens[1], tokens[2:]


def _auth(tokens: list[str]) -> tuple[Auth | Invalid, list[str]]:
    if taken := _take(tokens, _PIN):
        pin, rest = taken
        return (ByPin(pin) if _PIN_DIGITS.fullmatch(pin) else _BAD_PIN), rest
    if taken := _take(tokens, _USER):
        login, rest = taken
        if not login:
            return _NO_LOGIN, rest
        password = _take(rest, _PASSWORD) if rest else None
        if not password or not password[0]:
            return _NO_PASSWORD, rest
        return ByLogin(login, password[0]), password[1]
    return BySender(), tokens


def _action(auth: Auth, tokens: list[str]) -> Command:
    if not tokens:
        return Call(auth, None, None)
    if taken := _take(tokens, _REGISTER):
        if not isinstance(auth, ByLogin):
            return _REGISTER_AUTH
        phone, rest = taken
        numbers = _numbers([phone, *rest] if phone else rest, most=1)
        if isinstance(numbers, Invalid):
            return numbers
        return Register(auth, numbers[0]) if numbers else _REGISTER_ONE
    word = _word(tokens[0])
    if word in _HELP:
        return Help()
    if word in _BALANCE:
        return Balance(auth) if len(tokens) == 1 else _BALANCE_ALONE
    if word == _TOPUP:
        # A voucher code may be typed in groups ("1234 5678 9012 34"): the rest of the text is the code.
        code = "".join(tokens[1:])
        return Topup(auth, code) if tokens[1:] and _VOUCHER.fullmatch(code) else _TOPUP_CODE
    if word == "RATE":
        numbers = _numbers(tokens[1:], most=1)
        if isinstance(numbers, Invalid):
            return numbers
        return Rate(auth, numbers[0]) if numbers else _RATE_ONE
    if word == "CALL":
        tokens = tokens[1:]
    at = None
    if len(tokens) >= 2 and _word(tokens[-2]) == "AT":
        clock = _CLOCK.fullmatch(tokens[-1])
        if clock is None:
            return BAD_CLOCK
        at, tokens = (int(clock.group(1)), int(clock.group(2))), tokens[:-2]
    elif tokens and _word(tokens[-1]) == "AT":
        return BAD_CLOCK
    numbers = _numbers(tokens, most=2)
    if isinstance(numbers, Invalid):
        return numbers
    first, destination = ([None, None] + numbers)[-2:]
    return Call(auth, first, destination, at)


def _numbers(tokens: list[str], most: int) -> list[str] | Invalid:
    joined: list[str] = []
    for token in tokens:
        if joined and (
            joined[-1].endswith(")") or (token.startswith("(") and _COUNTRY_CODE.fullmatch(joined[-1]))
        ):
            joined[-1] += token
        else:
            joined.append(token)
    # Shape before count, so that a sentence gets "not understood", not "too many numbers".
    for token in joined:
        if not _NUMBER.fullmatch(token):
            return _BAD_NUMBER if any(ch.isdigit() for ch in token) else _UNKNOWN
    if len(joined) > most:
        return _TOO_MANY
    numbers = [_number(token) for token in joined]
    if any(number is None for number in numbers):
        return _NUMBER_LENGTH
    return numbers


def _number(token: str) -> str | None:
    """A token that matched _NUMBER -> '+digits' or 'digits', None if too short or long."""
    digits = "".join(ch for ch in token if ch in "0123456789")
    international = token.startswith("+")
    # An exit code typed in front (00, 011) is not part of the number's own length.
    exit_code = next((len(idd) for idd in ("011", "00") if not international and digits.startswith(idd)), 0)
    if not 3 <= len(digits) - exit_code <= 17:
        return None
    return "+" + digits if international else digits
