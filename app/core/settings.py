"""Configuration, read once from the environment (a `.env` file may supply it).

Nothing else in the project reads `os.environ`: modules receive a `Settings`.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from app.core import request_origin

DEFAULT_DATABASE_URL = "sqlite:///./callback.db"
TWILIO_API_BASE = "https://api.twilio.com"
# PROVIDER's (and PROVIDERS' list's) values (PRODUCT.md §5); app/providers/registry.py builds each one's adapter.
PROVIDERS = ("sandbox", "twilio", "signalwire", "telnyx")
# The protocol the sandbox carrier speaks (SANDBOX_DIALECT): which provider it stands in for.
SANDBOX_DIALECTS = ("twilio", "signalwire", "telnyx")
TELNYX_API_BASE = "https://api.telnyx.com/v2"


def normalize_database_url(url: str) -> str:
    """One spelling per backend: `databases` and Alembic both get a plain URL.

    PaaS providers hand out `postgres://`; SQLAlchemy only knows `postgresql://`.
    Driver suffixes are dropped because each side picks its own driver.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    for driver in ("+asyncpg", "+psycopg2", "+psycopg", "+aiosqlite", "+pysqlite"):
        url = url.replace(driver + "://", "://", 1)
    return url


def _int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}")


def _float(env: dict, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base: str = TWILIO_API_BASE
    # Twilio Webhook Rules: the SharedKey secret of requests carrying X-Twilio-Webhooks-Signature-Settings.
    twilio_webhook_shared_key: str | None = None
    # PROVIDER; None: twilio when TWILIO_ACCOUNT_SID is set, else sandbox (see provider_name).
    provider: str | None = None
    # SignalWire: the space (a host, or a full base URL for a local double), the project's REST
    # credentials, and the signing key of its webhooks (not the API token).
    signalwire_space_url: str | None = None
    signalwire_project_id: str | None = None
    signalwire_api_token: str | None = None
    signalwire_signing_key: str | None = None
    sandbox_dialect: str = "twilio"
    public_base_url: str | None = None
    # Telnyx TeXML: the REST key, base and account, the TeXML application, and the Ed25519 public key
    # (base64) that verifies its webhooks.
    telnyx_api_key: str | None = None
    telnyx_api_base: str = TELNYX_API_BASE
    telnyx_account_sid: str | None = None
    telnyx_texml_app_id: str | None = None
    telnyx_public_key: str | None = None  # base64 Ed25519: verifies Telnyx's webhooks
    secret_key: str | None = None
    # How long after the trigger the callback leg is dialled: long enough for
    # the subscriber's phone to be free again after the rejected trigger.
    dispatch_delay_seconds: float = 2.0
    # Outbound calls per second the provider accepts (Twilio: 1 by default).
    provider_cps: float = 1.0
    provider_timeout_seconds: float = 10.0
    provider_max_attempts: int = 4
    # A request not placed within this time is expired rather than dialled late.
    request_ttl_seconds: int = 600
    # A leg whose create call got no answer (timeout, crash) is settled after
    # this long: placed if the provider reported it, failed otherwise.
    placing_grace_seconds: int = 60
    leg_a_timeout_seconds: int = 30
    dispatcher_enabled: bool = True
    sandbox_cps: float = 5.0
    # Abuse limits: triggers per requester per window, second-party calls per number per day.
    # Shortest PIN the operator accepts (PRODUCT.md: 4 to 12 digits, default 6); drawn PINs are never shorter.
    pin_min_length: int = 6
    trigger_limit: int = 10
    trigger_window_seconds: int = 600
    destination_daily_limit: int = 50
    # Verification codes texted (caller IDs being registered): per account and per
    # number, over the last 24 hours, and the price of each in the account's minor units.
    verification_daily_limit: int = 5
    verification_number_daily_limit: int = 3
    verification_text_price: int = 0
    # Bill the callback leg even when no second party was connected (carriers bill it).
    bill_leg_a_without_b: bool = True
    # The caller ID the provider accepts for a withheld presentation; empty: not offered.
    withheld_caller_id: str | None = None
    # The sandbox's clock: 1 is real time (the demo); tests run it faster.
    sandbox_speed: float = 1.0
    # Host header values served; None: PUBLIC_BASE_URL's host, loopback and the bound address. ("*",): any.
    allowed_hosts: tuple[str, ...] | None = None
    # When set, GET /metrics needs it as a bearer token.
    metrics_token: str | None = None
    # The client address lockouts key on (app/core/request_origin.py): X-Forwarded-For is read from
    # the right past these proxies (addresses or networks, comma-separated; `*` is refused)...
    forwarded_allow_ips: str = "127.0.0.1"
    # ...and then past this many more whose addresses are not known (a PaaS router: Heroku 1).
    forwarded_trusted_hops: int = 0
    # Call recordings (accounts that opted in) are deleted, at the provider and here, this many days after the call.
    recording_retention_days: int = 30
    # Where balance events, voucher redemptions and alarms are POSTed (app/calls/operator_events.py),
    # and the key of their X-Callback-Signature. Unset URL: no events are kept or sent.
    operator_webhook_url: str | None = None
    operator_webhook_secret: str | None = None
    # Alarms (app/calls/alarms.py), checked every alarm_check_seconds (0: never) over the last
    # alarm_window_seconds; a threshold of 0 turns its alarm off. ASR and ACD need alarm_min_calls legs.
    alarm_check_seconds: int = 60
    alarm_window_seconds: int = 3600
    alarm_min_calls: int = 20
    alarm_asr_below_percent: int = 30
    alarm_acd_below_seconds: int = 10
    alarm_failed_run: int = 10
    # An account spending this many times its usual (the previous 24 hours' average per window), and at
    # least alarm_spend_min in its minor units, in one window.
    alarm_spend_factor: int = 5
    alarm_spend_min: int = 1000

    # PROVIDERS: the providers calls are placed with, in order of preference (app/calls/routing.py);
    # empty: PROVIDER alone (PROVIDER=x is PROVIDERS=x), else the one the credentials name.
    providers: tuple[str, ...] = ()

    @property
    def provider_names(self) -> tuple[str, ...]:
        """The providers in use, the first the default (webhooks of the trigger, texts, rows without a provider)."""
        if self.providers:
            return self.providers
        return (self.provider or ("twilio" if self.twilio_account_sid else "sandbox"),)

    @property
    def provider_name(self) -> str:
        return self.provider_names[0]

    @property
    def uses_sandbox(self) -> bool:
        return "sandbox" in self.provider_names

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


# What each provider needs set before the platform starts.
REQUIRED = {
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
    "signalwire": ("SIGNALWIRE_SPACE_URL", "SIGNALWIRE_PROJECT_ID", "SIGNALWIRE_API_TOKEN", "SIGNALWIRE_SIGNING_KEY"),
    # Without the public key no webhook could be verified; without the rest no call could be placed.
    "telnyx": ("TELNYX_API_KEY", "TELNYX_ACCOUNT_SID", "TELNYX_TEXML_APP_ID", "TELNYX_PUBLIC_KEY"),
}


def telnyx_public_key_valid(value: str | None) -> bool:
    try:
        return len(base64.b64decode((value or "").strip(), validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def _setting(settings: Settings, variable: str):
    return getattr(settings, variable.lower())


def signalwire_api_base(space_url: str) -> str:
    """The Compatibility (LaML) REST base of a space: `example.signalwire.com`, or a full base URL for a double."""
    space = (space_url or "").strip()
    base = (space if "://" in space else "https://" + space).rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ValueError(space_url)
    return base + "/api/laml"


def _check_provider(settings: Settings) -> None:
    if settings.twilio_account_sid and not settings.twilio_auth_token:
        # The auth token is the key webhooks are signed with: without it, anyone could sign.
        raise SystemExit("TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN is not: set both, or neither for the sandbox")
    if len(set(settings.providers)) != len(settings.providers) or not set(settings.providers) <= set(PROVIDERS):
        raise SystemExit(f"PROVIDERS is a comma-separated list of {', '.join(PROVIDERS)}, each at most once, "
                         f"got {','.join(settings.providers)!r}")
    if settings.providers and settings.provider and settings.provider != settings.providers[0]:
        raise SystemExit(f"PROVIDER={settings.provider} and PROVIDERS={','.join(settings.providers)} disagree: "
                         "set one (PROVIDERS for several, in order of preference)")
    for name in settings.provider_names:
        _check_one_provider(settings, name)
    if settings.sandbox_dialect not in SANDBOX_DIALECTS:
        raise SystemExit(f"SANDBOX_DIALECT must be one of {', '.join(SANDBOX_DIALECTS)}, "
                         f"got {settings.sandbox_dialect!r}")


def _check_one_provider(settings: Settings, name: str) -> None:
    if name not in PROVIDERS:
        raise SystemExit(f"PROVIDER must be one of {', '.join(PROVIDERS)}, got {name!r}")
    missing = [variable for variable in REQUIRED.get(name, ()) if not _setting(settings, variable)]
    if missing:
        # Half a provider would place calls nobody can verify the webhooks of, or none at all.
        raise SystemExit(f"PROVIDER={name} needs {', '.join(missing)} (see README, section {name})")
    if name == "signalwire":
        try:
            signalwire_api_base(settings.signalwire_space_url)
        except ValueError:
            raise SystemExit("SIGNALWIRE_SPACE_URL must be your space's host (example.signalwire.com) or a base URL, "
                             f"got {settings.signalwire_space_url!r}") from None
        if settings.signalwire_signing_key == settings.signalwire_api_token:
            # SignalWire signs with the signing key; accepting the API token would let anyone holding
            # the REST credential (a script, a CI secret) forge webhooks.
            raise SystemExit("SIGNALWIRE_SIGNING_KEY is the project's signing key (API Credentials, "
                             "\"Signing Key\"), not its API token")
    if settings.sandbox_dialect not in SANDBOX_DIALECTS:
        raise SystemExit(f"SANDBOX_DIALECT must be one of {', '.join(SANDBOX_DIALECTS)}, "
                         f"got {settings.sandbox_dialect!r}")
    if name == "telnyx" and not telnyx_public_key_valid(settings.telnyx_public_key):
        raise SystemExit("TELNYX_PUBLIC_KEY must be the base64 Ed25519 public key from Mission Control "
                         "(Account Settings > Keys & Credentials > Public Key): 32 bytes in base64")
    if name != "sandbox" and not settings.public_base_url:
        # The callback URLs given to the provider must not come from a request's Host header.
        raise SystemExit(f"PUBLIC_BASE_URL is required with PROVIDER={name}: the URL at which the provider "
                         "reaches this app, e.g. https://callback.example.com")


def check(settings: Settings) -> Settings:
    """Refuse to start on a configuration that would be unsafe; SystemExit with what to fix."""
    _check_provider(settings)
    if settings.public_base_url:
        parts = urlsplit(settings.public_base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise SystemExit(f"PUBLIC_BASE_URL must be an http(s) URL such as https://callback.example.com, "
                             f"got {settings.public_base_url!r}")
    try:
        request_origin.trusted_networks(settings.forwarded_allow_ips)
    except ValueError as exc:
        if str(exc) == "*":
            # Every hop trusted: X-Forwarded-For's leftmost entry, which the client writes, would be its address,
            # and a new one per guess would slip past the per-address lockout.
            raise SystemExit("FORWARDED_ALLOW_IPS=* would believe any X-Forwarded-For, which the client writes: "
                             "list your proxies' addresses or networks (FORWARDED_ALLOW_IPS=10.0.0.0/8), or set "
                             "FORWARDED_TRUSTED_HOPS to the number of proxies in front of the app (Heroku: 1)") \
                from None
        raise SystemExit(f"FORWARDED_ALLOW_IPS must list IP addresses or networks (10.0.0.0/8), got {exc}") from None
    if not 4 <= settings.pin_min_length <= 12:
        raise SystemExit(f"PIN_MIN_LENGTH is 4 to 12 digits, got {settings.pin_min_length}")
    if settings.recording_retention_days < 1:
        raise SystemExit(f"RECORDING_RETENTION_DAYS is a number of days, 1 or more, "
                         f"got {settings.recording_retention_days}")
    if settings.operator_webhook_url:
        parts = urlsplit(settings.operator_webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SystemExit(f"OPERATOR_WEBHOOK_URL must be an http(s) URL, got {settings.operator_webhook_url!r}")
        if not settings.operator_webhook_secret:
            # An unsigned event could be forged by anyone who can reach the receiver.
            raise SystemExit("OPERATOR_WEBHOOK_URL is set but OPERATOR_WEBHOOK_SECRET is not: the receiver "
                             "checks each event's X-Callback-Signature with it")
    for name in ("alarm_check_seconds", "alarm_min_calls", "alarm_asr_below_percent", "alarm_acd_below_seconds",
                 "alarm_failed_run", "alarm_spend_factor", "alarm_spend_min"):
        if getattr(settings, name) < 0:
            raise SystemExit(f"{name.upper()} is 0 (off) or more")
    if settings.alarm_window_seconds < 60 or settings.alarm_asr_below_percent > 100:
        raise SystemExit("ALARM_WINDOW_SECONDS is at least 60, ALARM_ASR_BELOW_PERCENT at most 100")
    if settings.forwarded_trusted_hops < 0:
        raise SystemExit("FORWARDED_TRUSTED_HOPS is the number of proxies in front of the app: 0 or more")
    return settings


def _providers(raw: str | None) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in (raw or "").split(",") if name.strip())


def _hosts(raw: str | None) -> tuple[str, ...] | None:
    names = tuple(name.strip().lower() for name in (raw or "").split(",") if name.strip())
    return names or None


def load_settings(environ: dict | None = None, env_file: str | Path | None = ".env") -> Settings:
    env: dict = {}
    if env_file and Path(env_file).is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    return check(Settings(
        database_url=normalize_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL),
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
        twilio_api_base=(env.get("TWILIO_API_BASE") or TWILIO_API_BASE).rstrip("/"),
        twilio_webhook_shared_key=env.get("TWILIO_WEBHOOK_SHARED_KEY") or None,
        provider=(env.get("PROVIDER") or "").strip().lower() or None,
        signalwire_space_url=env.get("SIGNALWIRE_SPACE_URL") or None,
        signalwire_project_id=env.get("SIGNALWIRE_PROJECT_ID") or None,
        signalwire_api_token=env.get("SIGNALWIRE_API_TOKEN") or None,
        signalwire_signing_key=env.get("SIGNALWIRE_SIGNING_KEY") or None,
        sandbox_dialect=(env.get("SANDBOX_DIALECT") or "twilio").strip().lower(),
        public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        telnyx_api_key=env.get("TELNYX_API_KEY") or None,
        telnyx_api_base=(env.get("TELNYX_API_BASE") or TELNYX_API_BASE).rstrip("/"),
        telnyx_account_sid=env.get("TELNYX_ACCOUNT_SID") or None,
        telnyx_texml_app_id=env.get("TELNYX_TEXML_APP_ID") or None,
        telnyx_public_key=(env.get("TELNYX_PUBLIC_KEY") or "").strip() or None,
        secret_key=env.get("SECRET_KEY") or None,
        dispatch_delay_seconds=_float(env, "DISPATCH_DELAY_SECONDS", 2.0),
        provider_cps=_float(env, "PROVIDER_CPS", 1.0),
        provider_timeout_seconds=_float(env, "PROVIDER_TIMEOUT_SECONDS", 10.0),
        provider_max_attempts=_int(env, "PROVIDER_MAX_ATTEMPTS", 4),
        request_ttl_seconds=_int(env, "REQUEST_TTL_SECONDS", 600),
        placing_grace_seconds=_int(env, "PLACING_GRACE_SECONDS", 60),
        leg_a_timeout_seconds=_int(env, "LEG_A_TIMEOUT_SECONDS", 30),
        dispatcher_enabled=(env.get("DISPATCHER", "on").lower() not in ("off", "0", "false", "no")),
        sandbox_cps=_float(env, "SANDBOX_CPS", 5.0),
        pin_min_length=_int(env, "PIN_MIN_LENGTH", 6),
        trigger_limit=_int(env, "TRIGGER_LIMIT", 10),
        trigger_window_seconds=_int(env, "TRIGGER_WINDOW_SECONDS", 600),
        destination_daily_limit=_int(env, "DESTINATION_DAILY_LIMIT", 50),
        verification_daily_limit=_int(env, "VERIFICATION_DAILY_LIMIT", 5),
        verification_number_daily_limit=_int(env, "VERIFICATION_NUMBER_DAILY_LIMIT", 3),
        verification_text_price=_int(env, "VERIFICATION_TEXT_PRICE", 0),
        withheld_caller_id=env.get("WITHHELD_CALLER_ID") or None,
        bill_leg_a_without_b=(env.get("BILL_LEG_A_WITHOUT_B", "yes").lower() not in ("no", "0", "false", "off")),
        sandbox_speed=_float(env, "SANDBOX_SPEED", 1.0),
        allowed_hosts=_hosts(env.get("ALLOWED_HOSTS")),
        metrics_token=env.get("METRICS_TOKEN") or None,
        forwarded_allow_ips=(env.get("FORWARDED_ALLOW_IPS") or "127.0.0.1").strip(),
        forwarded_trusted_hops=_int(env, "FORWARDED_TRUSTED_HOPS", 0),
        providers=_providers(env.get("PROVIDERS")),
        recording_retention_days=_int(env, "RECORDING_RETENTION_DAYS", 30),
        operator_webhook_url=(env.get("OPERATOR_WEBHOOK_URL") or "").strip() or None,
        operator_webhook_secret=env.get("OPERATOR_WEBHOOK_SECRET") or None,
        alarm_check_seconds=_int(env, "ALARM_CHECK_SECONDS", 60),
        alarm_window_seconds=_int(env, "ALARM_WINDOW_SECONDS", 3600),
        alarm_min_calls=_int(env, "ALARM_MIN_CALLS", 20),
        alarm_asr_below_percent=_int(env, "ALARM_ASR_BELOW_PERCENT", 30),
        alarm_acd_below_seconds=_int(env, "ALARM_ACD_BELOW_SECONDS", 10),
        alarm_failed_run=_int(env, "ALARM_FAILED_RUN", 10),
        alarm_spend_factor=_int(env, "ALARM_SPEND_FACTOR", 5),
        alarm_spend_min=_int(env, "ALARM_SPEND_MIN", 1000),
    ))
