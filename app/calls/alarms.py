"""Alarms on the traffic, thresholds set by the operator (ALARM_* settings):

- `asr`: answer-seizure ratio (answered legs / ended legs) below ALARM_ASR_BELOW_PERCENT,
- `acd`: average duration of the answered legs below ALARM_ACD_BELOW_SECONDS,
  both per provider (every leg) and per destination prefix (the number's country calling code),
  over the last ALARM_WINDOW_SECONDS, judged only on ALARM_MIN_CALLS legs or more;
- `failed_run`: the last ALARM_FAILED_RUN legs all failed (none answered), per provider;
- `spend_spike`: an account spent ALARM_SPEND_FACTOR times its usual in the window (its average per
  window over the 24 hours before), and at least ALARM_SPEND_MIN.

`check` measures, then raises what crosses a threshold and clears what is back within it, in one
transaction under a lock (two instances never raise one alarm twice). A raised alarm is a row listed
on /admin/alarms until it clears, a WARNING log line, the gauge `callback_alarms{kind,subject}` at 1, and
an operator webhook event (`alarm.raised`, then `alarm.cleared`), queued in that same transaction.
Too few calls to judge leaves an alarm as it is: a route with no traffic does not clear by silence.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

import phonenumbers

from app.calls import operator_events
from app.core import money
from app.data import accounts
from app.data import alarms as data
from app.data.db import utcnow
from app.platform import Platform

log = logging.getLogger(__name__)

BASELINE = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Reading:
    kind: str
    subject: str
    value: str
    threshold: str
    breaching: bool | None  # None: too few calls to judge


def destination_prefix(number: str | None) -> str | None:
    """The country calling code of an E.164 number ("44" for +44 20...), None if it is not one."""
    if not number or not number.startswith("+"):
        return None
    try:
        return str(phonenumbers.parse(number, None).country_code)
    except phonenumbers.NumberParseException:
        return None


def _traffic(subject: str, legs: list, p: Platform) -> list[Reading]:
    s = p.settings
    ended = len(legs)
    durations = [leg["duration_seconds"] or 0 for leg in legs if leg["answered"]]
    enough = ended >= s.alarm_min_calls
    readings = []
    if s.alarm_asr_below_percent:
        # Compared in integers: answered / ended < percent / 100.
        readings.append(Reading("asr", subject, f"{len(durations) * 100 // max(ended, 1)}% of {ended}",
                                f"{s.alarm_asr_below_percent}%",
                                len(durations) * 100 < s.alarm_asr_below_percent * ended if enough else None))
    if s.alarm_acd_below_seconds:
        judged = enough and bool(durations)
        readings.append(Reading("acd", subject, f"{sum(durations) // max(len(durations), 1)} s",
                                f"{s.alarm_acd_below_seconds} s",
                                sum(durations) < s.alarm_acd_below_seconds * len(durations) if judged else None))
    return readings


async def readings(p: Platform, now: dt.datetime) -> list[Reading]:
    s = p.settings
    window = dt.timedelta(seconds=s.alarm_window_seconds)
    legs = await data.ended_legs(p.db, since=now - window)
    # One subject per provider of PROVIDERS, over the legs it placed (a leg naming none: the first's).
    by_provider = defaultdict(list)
    for leg in legs:
        by_provider[leg["provider"] or p.default_provider_name].append(leg)
    found = []
    for name in p.providers:
        found += _traffic(f"provider:{name}", by_provider[name], p)
    by_prefix = defaultdict(list)
    for leg in legs:
        prefix = destination_prefix(leg["to_number"])
        if prefix is not None:
            by_prefix[prefix].append(leg)
    for prefix, group in sorted(by_prefix.items()):
        found += _traffic(f"prefix:{prefix}", group, p)
    for name in p.providers if s.alarm_failed_run else ():
        latest = await data.latest_answered(p.db, limit=s.alarm_failed_run, provider=name,
                                            default=name == p.default_provider_name)
        failed = len(latest) if True not in latest else latest.index(True)
        found.append(Reading("failed_run", f"provider:{name}", f"{failed} failed", f"{s.alarm_failed_run} failed",
                             failed >= s.alarm_failed_run))
    if s.alarm_spend_factor:
        spent = await data.spend_by_account(p.db, since=now - window, until=now)
        before = await data.spend_by_account(p.db, since=now - window - BASELINE, until=now - window)
        for account_id, amount in sorted(spent.items()):
            account = await accounts.get_account(p.db, account_id=account_id)
            if account is None:
                continue
            usual = before.get(account_id, 0) * window // BASELINE  # the average per window, rounded down
            # spent >= factor x usual, compared without division; a new account's usual is 0.
            spike = amount >= s.alarm_spend_min and amount * BASELINE > s.alarm_spend_factor * before.get(
                account_id, 0) * window
            currency = account["currency"]
            found.append(Reading("spend_spike", f"account:{account['login']}",
                                 f"{money.format_amount(amount, currency)} {currency}",
                                 f"{s.alarm_spend_factor}x {money.format_amount(usual, currency)} {currency}", spike))
    return found


def _alarm(reading: Reading) -> dict:
    return {"kind": reading.kind, "subject": reading.subject, "value": reading.value, "threshold": reading.threshold}


async def check(p: Platform) -> tuple[list[Reading], list[Reading]]:
    """One check: the alarms raised and those cleared by it."""
    now = utcnow()
    measured = await readings(p, now)
    raised, cleared = [], []
    async with p.db.transaction():
        await p.db.lock("alarms")
        open_now = {(row["kind"], row["subject"]): row for row in await data.open_alarms(p.db)}
        seen = set()
        for reading in measured:
            key = (reading.kind, reading.subject)
            seen.add(key)
            row = open_now.get(key)
            if reading.breaching and row is None:
                await data.raise_alarm(p.db, kind=reading.kind, subject=reading.subject, value=reading.value,
                                       threshold=reading.threshold, now=now)
                await operator_events.emit(p, "alarm.raised", None, alarm=_alarm(reading))
                raised.append(reading)
            elif reading.breaching is False and row is not None:
                await data.clear_alarm(p.db, id=row["id"], value=reading.value, now=now)
                await operator_events.emit(p, "alarm.cleared", None, alarm=_alarm(reading))
                cleared.append(reading)
            elif row is not None and reading.breaching is not None:
                # Still raised: show the latest measure (one taken on too few calls would mislead).
                await data.update_value(p.db, id=row["id"], value=reading.value, now=now)
        # An account that spent nothing in the window has no reading: its spike is over.
        for (kind, subject), row in open_now.items():
            if kind == "spend_spike" and (kind, subject) not in seen:
                reading = Reading(kind, subject, "0", row["threshold"], False)
                await data.clear_alarm(p.db, id=row["id"], value="0", now=now)
                await operator_events.emit(p, "alarm.cleared", None, alarm=_alarm(reading))
                cleared.append(reading)
    for reading in raised:
        log.warning("alarm raised: %s %s is %s (threshold %s)", reading.kind, reading.subject, reading.value,
                    reading.threshold, extra={"alarm": reading.kind, "subject": reading.subject})
    for reading in cleared:
        log.info("alarm cleared: %s %s is %s (threshold %s)", reading.kind, reading.subject, reading.value,
                 reading.threshold, extra={"alarm": reading.kind, "subject": reading.subject})
    if p.metrics is not None:
        for reading in cleared:
            try:
                p.metrics.alarms.remove(reading.kind, reading.subject)
            except KeyError:
                pass
        # Every open alarm, also those another instance raised or this one found at start.
        for row in await data.open_alarms(p.db):
            p.metrics.alarms.labels(row["kind"], row["subject"]).set(1)
    return raised, cleared


async def run(p: Platform) -> None:
    """Check every ALARM_CHECK_SECONDS until cancelled."""
    while True:
        try:
            await check(p)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("alarms: the check failed")
        await asyncio.sleep(p.settings.alarm_check_seconds)
