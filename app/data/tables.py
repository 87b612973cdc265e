"""The schema: one SQLAlchemy Core `MetaData`, from which Alembic migrations are made.

Money is an integer count of the currency's minor units (cents). Rates, whose
prices go below a cent per minute, are integer micro-units (1/1,000,000 of the
currency unit) per minute. Times are naive UTC.
"""

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Values generated on first start (the secret key when SECRET_KEY is unset),
# kept with the data they protect.
instance_settings = sa.Table(
    "instance_settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Operator -> resellers -> accounts. A reseller buys at the operator's tariff for it (`tariff`, a rate table)
# and sells at its accounts' own tariffs; its accounts' calls are charged to `used` at the buying price, and
# stop when `used + reserved` would pass `credit_limit` (holds as for balances: app/billing/reservations.py).
resellers = sa.Table(
    "resellers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("login", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("tariff", sa.String(32), nullable=False, server_default="default"),
    # The rate table it sells at, which it edits itself at /reseller/rates (NULL: the operator keeps its rates).
    sa.Column("sell_tariff", sa.String(32), unique=True),
    sa.Column("currency", sa.String(3), nullable=False, server_default="USD"),
    sa.Column("credit_limit", sa.BigInteger, nullable=False, server_default="0"),  # minor units
    sa.Column("used", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("login", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    # HMAC-SHA256 of the PIN keyed with the secret key: PINs are unique and a
    # PIN alone finds its account, so it must be an indexed exact lookup.
    sa.Column("pin_hash", sa.String(64), unique=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("currency", sa.String(3), nullable=False, server_default="USD"),
    sa.Column("country", sa.String(2), nullable=False, server_default="US"),
    sa.Column("language", sa.String(8), nullable=False, server_default="en"),
    sa.Column("default_number", sa.String(20)),
    # Set by the operator (CLI, admin pages), not typed by the subscriber in the portal: only then is
    # the default number the subscriber's own for texts and the caller ID (unless a verified ANI).
    sa.Column("default_number_trusted", sa.Boolean, nullable=False, server_default=sa.text("false")),
    # Rate tables: `tariff` prices the second party (leg B), `callback_tariff` the callback leg.
    sa.Column("tariff", sa.String(32), nullable=False, server_default="default"),
    sa.Column("callback_tariff", sa.String(32), nullable=False, server_default="default"),
    # Money held for calls in progress: what they may still cost. Spendable = balance - reserved.
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("max_concurrent", sa.Integer, nullable=False, server_default="3"),
    sa.Column("max_call_seconds", sa.Integer),
    sa.Column("max_call_cost", sa.BigInteger),  # minor units
    # Retry policy for the callback leg (busy / no answer / failed).
    sa.Column("retry_attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("retry_delay_seconds", sa.Integer, nullable=False, server_default="60"),
    # One-stage calls (the destination is known before leg A answers): how to make
    # sure a person, not voicemail, is on leg A before leg B is dialled.
    sa.Column("confirm_mode", sa.String(8), nullable=False, server_default="press1"),
    # What the second party sees as the caller: the service number, the subscriber's
    # own (verified) number, or nothing where the provider allows it.
    sa.Column("caller_id_mode", sa.String(10), nullable=False, server_default="service"),
    # Opt-in: the second-party calls are recorded (both parties hear so first) and kept for the retention period.
    sa.Column("record_calls", sa.Boolean, nullable=False, server_default=sa.text("false")),
    # Low-balance notice: texted once when the balance falls below the threshold (minor units, NULL: never),
    # `low_balance_noticed` set with it and cleared by a top-up above it, so that each crossing texts once.
    sa.Column("low_balance_threshold", sa.BigInteger),
    sa.Column("low_balance_noticed", sa.Boolean, nullable=False, server_default=sa.text("false")),
    # A PIN card (see card_batches): no login of its own; it expires `valid_days` after its first use.
    sa.Column("card_batch_id", sa.Integer, sa.ForeignKey("card_batches.id", ondelete="SET NULL"), index=True),
    sa.Column("card_expires_at", sa.DateTime),
    # IANA name (Europe/Paris): how the subscriber's own clock reads, for scheduled callbacks.
    sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
    # The reseller that sells to this account (NULL: the operator's own); see `resellers`.
    sa.Column("reseller_id", sa.Integer, sa.ForeignKey("resellers.id", ondelete="RESTRICT"), index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("status in ('active', 'blocked')", name="status"),
    sa.CheckConstraint("confirm_mode in ('none', 'press1', 'amd')", name="confirm_mode"),
)

anis = sa.Table(
    "anis",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("number", sa.String(20), nullable=False, unique=True),
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

MODES = ("pin", "ani", "ani-then-pin", "ani-and-pin", "did", "did-direct")
DID_MODES = ("did", "did-direct")  # personal numbers: each belongs to an account

service_numbers = sa.Table(
    "service_numbers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("number", sa.String(20), nullable=False, unique=True),
    sa.Column("mode", sa.String(16), nullable=False),
    # Set for a personal DID: the account it belongs to.
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True),
    sa.Column("caller_id_mode", sa.String(10)),  # overrides the account's for calls through this number
    # did-direct: the one number (E.164) a call to this DID connects, with no IVR.
    sa.Column("destination", sa.String(20)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("mode in ('pin', 'ani', 'ani-then-pin', 'ani-and-pin', 'did', 'did-direct')", name="mode"),
)

rates = sa.Table(
    "rates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tariff", sa.String(32), nullable=False, server_default="default"),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("price_per_minute", sa.BigInteger, nullable=False),  # micro-units
    sa.Column("first_increment", sa.Integer, nullable=False, server_default="60"),
    sa.Column("next_increment", sa.Integer, nullable=False, server_default="60"),
    sa.Column("connection_fee", sa.BigInteger, nullable=False, server_default="0"),  # micro-units per answered call
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("tariff", "prefix", name="uq_rates_tariff_prefix"),
)

# The outbox: a row is written for every trigger before anything is dialled,
# and it ends `completed` or `failed` with a reason. See app/core/states.py.
callback_requests = sa.Table(
    "callback_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("trigger_kind", sa.String(8), nullable=False),  # voice, sms, web, api
    sa.Column("trigger_id", sa.String(64), nullable=False),  # CallSid, MessageSid, idempotency key
    sa.Column("service_number", sa.String(20)),
    sa.Column("mode", sa.String(16)),
    sa.Column("caller_id", sa.String(32)),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="SET NULL")),
    sa.Column("needs_pin", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("leg_a_number", sa.String(20)),
    sa.Column("leg_a_from", sa.String(20)),
    sa.Column("leg_b_number", sa.String(20)),
    # none / press1 / amd for one-stage requests (leg B known up front); see accounts.
    sa.Column("confirm_mode", sa.String(8)),
    # Where to text the outcome when the trigger was an SMS (or a web/API request).
    sa.Column("notify_number", sa.String(20)),
    # Set once the outcome notice was sent (or found unnecessary): an outbox of its own.
    sa.Column("notified_at", sa.DateTime),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32)),
    # Why the last leg B attempt ended, reported if the session ends without a call.
    sa.Column("last_b_reason", sa.String(32)),
    sa.Column("base_url", sa.String(255)),
    sa.Column("due_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    # A scheduled callback: the time it was asked for (its first due_at). NULL: as soon as possible.
    sa.Column("scheduled_at", sa.DateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_at", sa.DateTime),
    sa.Column("leg_a_sid", sa.String(64), unique=True),
    sa.Column("pin_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("silent_prompts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("bad_destinations", sa.Integer, nullable=False, server_default="0"),
    sa.Column("calls_connected", sa.Integer, nullable=False, server_default="0"),
    # What this request holds of its account's balance (see app/billing/reservations.py).
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    # The provider (a name of PROVIDERS) leg A is placed with: set before its create call is sent, so a
    # create that got no answer is asked about, and failed over from, at the right one. NULL: the first.
    sa.Column("provider", sa.String(16)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("trigger_kind", "trigger_id", name="uq_callback_requests_trigger"),
    sa.Index("ix_callback_requests_state_due_at", "state", "due_at"),
    # An account's calls in progress are counted by state at every admission and PIN: by account alone,
    # the count would read every request the account ever made.
    sa.Index("ix_callback_requests_account_id_state", "account_id", "state"),
)

# A subscriber's phonebook: named numbers, those with a code also speed dials at the IVR (*<code>#).
phonebook_entries = sa.Table(
    "phonebook_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("number", sa.String(20), nullable=False),  # E.164
    sa.Column("code", sa.String(2)),  # 1 or 2 digits, unique in the account; NULL: no speed dial
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("account_id", "code", name="uq_phonebook_entries_account_id_code"),
)

# One row per call leg: the CDR once the leg has ended.
call_legs = sa.Table(
    "call_legs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("callback_requests.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("leg", sa.String(1), nullable=False),  # a: the callback leg, b: the second party
    sa.Column("provider_sid", sa.String(64), nullable=False, unique=True),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("from_number", sa.String(32)),
    sa.Column("to_number", sa.String(32)),
    sa.Column("status", sa.String(16), nullable=False),
    # The provider that placed the leg (leg B: leg A's, which dials it): its status and price are asked there.
    sa.Column("provider", sa.String(16)),
    sa.Column("last_sequence", sa.Integer, nullable=False, server_default="-1"),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("answered_at", sa.DateTime),
    sa.Column("ended_at", sa.DateTime),
    sa.Column("duration_seconds", sa.Integer),
    sa.Column("billed_seconds", sa.Integer),
    sa.Column("rate_prefix", sa.String(16)),
    sa.Column("price_per_minute", sa.BigInteger),  # micro-units
    sa.Column("cost", sa.BigInteger),  # minor units
    # What the carrier charged the operator for the leg, from its call record (app/billing/provider_prices.py):
    # a positive amount of micro-units of `provider_price_unit`, since carriers price below a cent.
    # NULL while unknown: not priced yet, never priced, or ended before prices were collected.
    sa.Column("provider_price", sa.BigInteger),
    sa.Column("provider_price_unit", sa.String(3)),
    # Resellers' legs: what the reseller owes the operator for it (at the operator's tariff for the reseller),
    # and its margin (cost - reseller_cost). The operator's margin: what it was paid for the leg (reseller_cost,
    # or cost for its own accounts) less the carrier's price, once that is known in the same currency.
    sa.Column("reseller_cost", sa.BigInteger),  # minor units
    sa.Column("reseller_margin", sa.BigInteger),
    sa.Column("operator_margin", sa.BigInteger),
    # When to ask the provider for the price next; NULL once priced or given up (after `price_checks` tries).
    sa.Column("price_check_at", sa.DateTime, index=True),
    sa.Column("price_checks", sa.Integer, nullable=False, server_default="0"),
    # When the provider was last asked whether this open leg has ended (app/calls/lost_callbacks.py).
    sa.Column("status_checked_at", sa.DateTime),
    # Open legs (ended_at NULL) are looked up by it: their final status callback may have been lost.
    sa.Index("ix_call_legs_ended_at", "ended_at"),
    sa.Index("ix_call_legs_to_number_started_at", "to_number", "started_at"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("callback_requests.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("from_state", sa.String(16)),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32)),
    sa.Column("detail", sa.String(255)),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # NULL for an operator's token (`token create --operator`): it acts on any account, within its scopes.
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True),
    sa.Column("name", sa.String(64), nullable=False, server_default=""),
    # Space-separated (app/core/scopes.py): "account" is what every token could do before scopes.
    sa.Column("scopes", sa.String(64), nullable=False, server_default="account"),
    # SHA-256 of a random 256-bit token: enough entropy that a slow hash adds nothing.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
)


# Every SMS in and out, for duplicate detection and the operator's log.
sms_messages = sa.Table(
    "sms_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("direction", sa.String(3), nullable=False),  # in, out
    sa.Column("source", sa.String(80), nullable=False),  # twilio, gateway:<name>, provider
    sa.Column("message_id", sa.String(80)),  # MessageSid or the gateway's id: duplicates act once
    sa.Column("from_number", sa.String(32)),
    sa.Column("to_number", sa.String(32)),
    sa.Column("body", sa.String(1600), nullable=False, server_default=""),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("callback_requests.id", ondelete="SET NULL"), index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("source", "message_id", name="uq_sms_messages_source_message_id"),
)

# SMS gateway apps and SMS providers that forward texts to /sms/gateway.
sms_gateways = sa.Table(
    "sms_gateways",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime),
)

# Numbers that texted STOP: never texted again until they text START.
opt_outs = sa.Table(
    "opt_outs",
    metadata,
    sa.Column("number", sa.String(32), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Failed authorizations (wrong PIN, wrong password), counted for lockouts.
auth_failures = sa.Table(
    "auth_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE")),
    sa.Column("requester", sa.String(64), nullable=False),  # caller ID or sender
    sa.Column("channel", sa.String(8), nullable=False),  # voice, sms, web, api
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_auth_failures_account_id_at", "account_id", "at"),
    sa.Index("ix_auth_failures_requester_at", "requester", "at"),
)


# Destination policy: operator-wide rules (account_id NULL) and per-account ones.
# kinds: allow_country (ISO code), allow_prefix, deny_prefix, allow_type (a high-risk number type),
# allow_range (a high-risk prefix let through; see app/fraud/destination_risk.py).
destination_rules = sa.Table(
    "destination_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("kind in ('allow_country', 'allow_prefix', 'deny_prefix', 'allow_type', 'allow_range')",
                       name="kind"),
)


# A number a subscriber asked to register as an ANI, pending until they type
# the code texted to it: an unverified number must not authorize callbacks.
ani_verifications = sa.Table(
    "ani_verifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("number", sa.String(20), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),  # HMAC of the code keyed with the secret key
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),  # codes typed
    sa.Column("sends", sa.Integer, nullable=False, server_default="1"),  # codes texted
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("account_id", "number", name="uq_ani_verifications_account_id_number"),
)


# Every verification code texted, kept when the pending code or the caller ID is
# removed: the daily caps per account and per number count these rows.
verification_texts = sa.Table(
    "verification_texts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("number", sa.String(20), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),  # portal, sms
    sa.Column("sent_at", sa.DateTime, nullable=False),
    sa.Index("ix_verification_texts_account_id_sent_at", "account_id", "sent_at"),
    sa.Index("ix_verification_texts_number_sent_at", "number", "sent_at"),
)

# Each requester's triggers (caller ID, sender, web:<login>) in its current window of
# TRIGGER_WINDOW_SECONDS, counted by one upsert: the row's lock, not a count of requests
# under an advisory lock, is what keeps parallel triggers from all seeing the same free slots.
trigger_counts = sa.Table(
    "trigger_counts",
    metadata,
    sa.Column("requester", sa.String(32), primary_key=True),
    sa.Column("window_start", sa.DateTime, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)

# Second-party dials allowed, one row each, written with the check of the
# destination's daily limit (the leg's own row comes later, from the provider).
destination_dials = sa.Table(
    "destination_dials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("number", sa.String(20), nullable=False),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("callback_requests.id", ondelete="SET NULL")),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_destination_dials_number_at", "number", "at"),
)


# Operators: the people who run the platform (admin pages), apart from subscribers.
operators = sa.Table(
    "operators",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("login", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_login_at", sa.DateTime),
)

# Signed-in web sessions, portal (account_id) and admin (operator_id): the cookie carries a random token
# whose digest is here, so logging out ends the session server-side and a copied cookie opens nothing.
login_sessions = sa.Table(
    "login_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True),
    sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id", ondelete="CASCADE"), index=True),
    sa.Column("reseller_id", sa.Integer, sa.ForeignKey("resellers.id", ondelete="CASCADE"), index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
)

# Every change of a balance made by a person (top-ups, corrections): the audit trail.
balance_adjustments = sa.Table(
    "balance_adjustments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("amount", sa.BigInteger, nullable=False),  # minor units, negative for corrections
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),  # "cli", or "operator:<login>"
    sa.Column("note", sa.String(255), nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Operator-uploaded audio that replaces a spoken prompt (<Play> instead of <Say>).
prompt_recordings = sa.Table(
    "prompt_recordings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("prompt", sa.String(40), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("content_type", sa.String(40), nullable=False),
    sa.Column("audio", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("prompt", "language", name="uq_prompt_recordings_prompt_language"),
)


# Recordings of second-party calls (accounts with record_calls), as the provider's recording status
# callbacks report them; the audio stays at the provider. Deleted there and here after the retention period.
call_recordings = sa.Table(
    "call_recordings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sid", sa.String(64), nullable=False, unique=True),  # the provider's id, opaque
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("callback_requests.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("call_sid", sa.String(64), nullable=False),
    sa.Column("destination", sa.String(20)),
    sa.Column("status", sa.String(16), nullable=False),  # in-progress | completed | absent
    sa.Column("duration", sa.Integer),  # seconds
    sa.Column("channels", sa.Integer),
    sa.Column("url", sa.String(255)),  # as reported; the audio is fetched from the configured API base, never here
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)


# The provider's calls-per-second limit, shared by every dispatcher of every
# instance: the time (microseconds since the epoch) of the next free slot.
provider_pacing = sa.Table(
    "provider_pacing",
    metadata,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("next_slot_us", sa.BigInteger, nullable=False),
)


# Click-to-call widgets embedded on operators' websites: a visitor types their number, the platform
# calls it and connects the widget's fixed destination, billed to the widget's account.
widgets = sa.Table(
    "widgets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # What the embed snippet carries (data-key): public, it authorizes nothing by itself.
    sa.Column("public_key", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("destination", sa.String(20), nullable=False),
    # The web origins (scheme://host[:port]) whose pages may use the widget, one a line.
    sa.Column("allowed_origins", sa.Text, nullable=False, server_default=""),
    sa.Column("ip_hourly_limit", sa.Integer, nullable=False, server_default="5"),
    sa.Column("number_daily_limit", sa.Integer, nullable=False, server_default="3"),
    # How a visitor proves to be one before the call: a code texted to them, a proof-of-work, or both.
    sa.Column("verification", sa.String(8), nullable=False, server_default="code"),
    sa.Column("pow_bits", sa.Integer, nullable=False, server_default="16"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("verification in ('code', 'pow', 'both')", name="verification"),
)

# One visitor's submission of a widget's form: counted for the per-IP and per-number limits, holding the
# texted code until it is typed, then the callback request it became. The visitor holds a random token
# (its digest is here) that shows the status and nothing else.
widget_visits = sa.Table(
    "widget_visits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("widget_id", sa.Integer, sa.ForeignKey("widgets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("number", sa.String(20), nullable=False),
    sa.Column("client_ip", sa.String(64), nullable=False),
    sa.Column("code_hash", sa.String(64)),  # HMAC of the texted code keyed with the secret key
    sa.Column("code_tries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("code_expires_at", sa.DateTime),
    sa.Column("outcome", sa.String(16)),  # NULL while a code is awaited; queued or failed
    sa.Column("request_id", sa.Integer, sa.ForeignKey("callback_requests.id", ondelete="SET NULL")),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_widget_visits_widget_id_client_ip_created_at", "widget_id", "client_ip", "created_at"),
    sa.Index("ix_widget_visits_number_created_at", "number", "created_at"),
)

# Proof-of-work challenges already redeemed, until they expire: each is good for one submission.
widget_pow_spent = sa.Table(
    "widget_pow_spent",
    metadata,
    sa.Column("nonce", sa.String(32), primary_key=True),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
)

# Vouchers: prepaid codes the operator sells, each worth `value` of `currency` once.
voucher_batches = sa.Table(
    "voucher_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("value", sa.BigInteger, nullable=False),  # minor units
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("prefix", sa.String(8), nullable=False, server_default=""),  # leading digits of every code
    sa.Column("expires_at", sa.DateTime),  # first moment it is no longer valid (the day after --expires, 00:00 UTC)
    sa.Column("disabled_at", sa.DateTime),
    sa.Column("created_by", sa.String(80), nullable=False, server_default="cli"),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

vouchers = sa.Table(
    "vouchers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("voucher_batches.id", ondelete="CASCADE"), nullable=False,
              index=True),
    # HMAC-SHA256 of the 14 digits keyed with the secret key: a typed code is found by an indexed exact
    # lookup, and a copy of the database alone gives no code away. The codes themselves are never stored.
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("redeemed_at", sa.DateTime),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="SET NULL"), index=True),
    sa.Column("channel", sa.String(8)),  # where it was redeemed: voice, sms, web, api
)

# PIN cards (calling cards): batches of accounts with a PIN and a balance and no login.
card_batches = sa.Table(
    "card_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("balance", sa.BigInteger, nullable=False),  # minor units, each card's starting balance
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("valid_days", sa.Integer),  # a card expires this many days after its first use; NULL: never
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# The operator webhook's outbox (app/calls/operator_events.py): each event is written with the change
# it reports, in the same transaction where there is one, and POSTed until the receiver takes it.
operator_events = sa.Table(
    "operator_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),  # the payload's "id", what receivers dedupe on
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the exact JSON POSTed, so every retry signs the same bytes
    sa.Column("created_at", sa.DateTime, nullable=False),
    # Undelivered while delivered_at is NULL; tried next at next_attempt_at (a lease while a POST is out).
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delivered_at", sa.DateTime),
    sa.Column("last_error", sa.String(255)),
    sa.Index("ix_operator_events_delivered_at_next_attempt_at", "delivered_at", "next_attempt_at"),
)

# A POST repeated with the same Idempotency-Key gets the first one's answer (app/web/api_topups.py):
# the key's row is inserted in the transaction that does the work, so two at once do it once.
api_idempotency = sa.Table(
    "api_idempotency",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_id", sa.Integer, sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(50), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),  # SHA-256 of method, path and body
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("token_id", "key", name="uq_api_idempotency_token_id_key"),
)

# Alarms on the traffic (app/calls/alarms.py): one open row per (kind, subject) until it clears.
alarms = sa.Table(
    "alarms",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # asr, acd, failed_run, spend_spike
    sa.Column("subject", sa.String(80), nullable=False),  # "prefix:44", "provider:twilio", "account:alice"
    sa.Column("value", sa.String(32), nullable=False),  # what was measured, as shown
    sa.Column("threshold", sa.String(32), nullable=False),
    sa.Column("raised_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("cleared_at", sa.DateTime),
    sa.Index("ix_alarms_cleared_at", "cleared_at"),
)

# Least-cost routing (app/calls/routing.py): what each provider charges per minute for numbers
# starting with `prefix`, in micro-units of the operator's currency.
provider_routes = sa.Table(
    "provider_routes",
    metadata,
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("cost_per_minute", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("prefix", "provider"),
)

# A provider the operator marked down: no call is placed with it until it is marked up.
provider_states = sa.Table(
    "provider_states",
    metadata,
    sa.Column("provider", sa.String(16), primary_key=True),
    sa.Column("down", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("note", sa.String(255)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
