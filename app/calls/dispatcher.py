"""Dial the callback leg of due requests, paced to the provider's calls per second.

A request is claimed (queued → calling_a, in one conditional update) before its
create call is sent, so no other instance or tick can dial it again. Outcomes:

- created: the leg's sid is recorded; status callbacks take it from there;
- refused with 5xx/429 or connection refused (the provider certainly did not
  place it): back to queued with backoff, then failed `provider_error`;
- other 4xx: failed `provider_error` with the provider's code;
- no answer (timeout, or this process died mid-request): the call may exist.
  It is left `calling_a` without a sid; its first status callback attaches
  it, and if none comes within the grace period it fails `provider_error`.
  Failing rather than redialling is what keeps a request from ringing twice.

With several providers (PROVIDERS, app/calls/routing.py) each attempt names its
provider on the row before the create call is sent. A provider that refuses
with 5xx/429 beyond the retry budget, or is marked down, is failed over from:
the request goes back to the queue, due now, routed to the next provider. A
timeout is failed over from only after the grace period has passed without a
status callback from that provider, since a call it placed would have sent
one by then; should one still come later, its call is not adopted (the
provider it was given to is in its callback URLs) but ended as a duplicate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from app.data import accounts, callbacks
from app.calls import call_recordings, dialing, lost_callbacks, low_balance, machine, notices, pacing, routing
from app.billing import provider_prices, reservations
from app.fraud import policy
from app.core import states, urls
from app.data.db import utcnow
from app.platform import Platform
from app.providers.interface import ProviderError, ProviderTimeout

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
HOUSEKEEPING_SECONDS = 1.0
# Retention is counted in days: looking for recordings past it once a minute is plenty.
RECORDINGS_SECONDS = 60.0
MAX_BATCH = 50
MAX_SLOTS = 3  # slots a call may be given before it is sent however late


def backoff_seconds(attempt: int) -> float:
    return min(2.0 ** (attempt - 1), 30.0)


async def _hold_for_leg_a(p: Platform, request) -> int | None:
    """Reserve the callback leg's IVR time before dialling it, when the account is known: leg A's TimeLimit.

    Done here rather than in the trigger's webhook so that a trigger costs one
    write; a retry keeps the hold its first attempt took. None if the balance
    does not cover it (the request has failed).
    """
    if request["account_id"] is None:
        return await dialing.leg_a_time_limit(p, request, None)
    account = await accounts.get_account(p.db, account_id=request["account_id"])
    if account is not None and account["status"] != "active":
        # Blocked since it was accepted (a scheduled callback may wait for days): never placed.
        await machine.move(p.db, request, machine.NOT_PLACED, states.FAILED, reason=states.AUTH_FAILED,
                           detail="account blocked before the call was placed")
        return None
    if account is not None and request["scheduled_at"] is not None and \
            await policy.check(p.db, account_id=account["id"], number=request["leg_a_number"]):
        # Asked for days ago, maybe: the operator's or the account's policy may have changed since.
        await machine.move(p.db, request, machine.NOT_PLACED, states.FAILED, reason=states.DESTINATION_BLOCKED,
                           detail="callback number blocked by the policy since it was scheduled")
        return None
    # The balance is checked again here, when the call is placed, not only when it was asked for.
    if account is not None and (request["reserved"] > 0 or await dialing.hold_for_ivr(p, request, account)):
        return await dialing.leg_a_time_limit(p, request, account)
    await machine.move(p.db, request, machine.NOT_PLACED, states.FAILED, reason=states.INSUFFICIENT_FUNDS,
                       detail="balance does not cover the callback leg")
    return None


async def requeue(p: Platform, request, detail: str) -> None:
    """Put a claimed request back in the queue, still due, its attempt not counted."""
    await machine.move(p.db, request, machine.NOT_PLACED, states.QUEUED, detail=detail,
                       attempts=request["attempts"] - 1)
    p.work_ready.set()


async def place_leg_a(p: Platform, request, *, time_limit: int | None = None, slot_us: int | None = None,
                      late_us: int | None = pacing.LATE_US) -> bool:
    """Dial leg A of a claimed, held request, at its provider slot when it has one.

    `time_limit`: leg A's TimeLimit, what its hold and the balance behind it cover
    (dialing.leg_a_time_limit), so the carrier ends it there whatever the app knows;
    worked out here, before the slot, when the caller does not know it.

    False if this task woke more than `late_us` after the slot (None: however late),
    and nothing was sent: sent now, the call would bunch up with the calls of the
    next slots and could exceed the provider's calls per second. The dispatcher
    gives it a later slot.
    """
    if time_limit is None:
        account = await accounts.get_account(p.db, account_id=request["account_id"]) \
            if request["account_id"] is not None else None
        time_limit = await dialing.leg_a_time_limit(p, request, account)
    names = await routing.candidates(p, request["leg_a_number"])
    name = routing.pick(request, names)
    if name is None:
        await _not_placed(p, request, "every provider is marked down", retryable=True, names=names, name=None)
        return True
    several = len(p.providers) > 1
    if several and name != request["provider"]:
        # Named before the create call: a timeout is then asked about, and failed over from, there.
        switched = request["provider"] is not None
        request = await machine.routed(p.db, request, provider=name, attempts=1 if switched else None)
        if request is None:
            return True  # moved meanwhile (canceled)
    if slot_us is not None and not await pacing.wait_for(slot_us, late_us=late_us):
        return False
    if p.metrics is not None:
        p.metrics.dispatch_lag.observe(max(0.0, (utcnow() - request["due_at"]).total_seconds()))
    # The provider's name in its webhook URLs says whose call a late callback is (leg_status, ivr).
    tag = name if several else None
    try:
        sid = await p.providers[name].create_call(
            to=request["leg_a_number"],
            from_=request["leg_a_from"],
            url=urls.leg_step(request["base_url"], request["id"], "answer", provider=tag),
            status_callback=urls.status_callback(request["base_url"], request["id"], "a", provider=tag),
            timeout=p.settings.leg_a_timeout_seconds,
            time_limit=time_limit,
            machine_detection=request["leg_b_number"] is not None and request["confirm_mode"] == "amd",
        )
    except ProviderTimeout as exc:
        if p.metrics is not None:
            p.metrics.provider_errors.labels("timeout").inc()
        log.warning("request %s: %s%s; waiting for a status callback", request["id"], f"{name}: " if several else "",
                    exc, extra={"callback_id": request["id"]})
        return True
    except ProviderError as exc:
        if p.metrics is not None:
            p.metrics.provider_errors.labels(str(exc.status or "unreachable")).inc()
        detail = f"{name + ' ' if several else ''}provider {exc.status or '-'} {exc.code or ''} {exc}".strip()
        await _not_placed(p, request, detail, retryable=exc.retryable, names=names, name=name)
        return True
    if sid is None:
        # Placed, but not named in the answer: its first status callback attaches it (as after a timeout).
        return True
    if not await machine.placed(p.db, request_id=request["id"], sid=sid, provider=name):
        await _unless_own(p, request["id"], sid=sid, provider=name)
    await callbacks.ensure_leg(p.db, request_id=request["id"], leg="a", sid=sid, direction="outbound-api",
                               from_number=request["leg_a_from"], to_number=request["leg_a_number"], status="queued",
                               provider=name)
    return True


async def _not_placed(p: Platform, request, detail: str, *, retryable: bool, names: list[str],
                      name: str | None) -> None:
    """A create call refused (or no provider to send it to): retry, fail over, or fail the request."""
    if retryable and request["attempts"] < p.settings.provider_max_attempts:
        delay = backoff_seconds(request["attempts"])
        await machine.move(p.db, request, machine.NOT_PLACED, states.QUEUED, detail=detail,
                           due_at=utcnow() + dt.timedelta(seconds=delay))
        return
    following = routing.after(names, name) if retryable and name is not None else None
    if following is not None:
        # The refusal certainly placed nothing: the next provider, now, with a retry budget of its own.
        log.warning("request %s: %s; failing over to %s", request["id"], detail, following,
                    extra={"callback_id": request["id"]})
        if await machine.move(p.db, request, machine.NOT_PLACED, states.QUEUED, detail=f"{detail}; to {following}",
                              due_at=utcnow(), provider=following, attempts=0):
            p.wake_dispatcher()
        return
    log.warning("request %s: %s", request["id"], detail, extra={"callback_id": request["id"]})
    await machine.move(p.db, request, machine.NOT_PLACED, states.FAILED, reason=states.PROVIDER_ERROR,
                       detail=detail)


async def _unless_own(p: Platform, request_id: int, *, sid: str, provider: str) -> None:
    """A created call whose sid was not recorded: the request's own if a status callback recorded it first;
    else it was failed over from this provider meanwhile, and the call is a duplicate, ended at once."""
    request = await callbacks.get_request(p.db, request_id=request_id)
    if request is None or request["leg_a_sid"] == sid:
        return
    log.warning("request %s: call %s created at %s after the request moved on; ending it", request_id, sid, provider,
                extra={"callback_id": request_id})
    try:
        await p.providers[provider].end_call(sid)
    except (ProviderError, ProviderTimeout) as exc:
        log.warning("could not end duplicate call %s: %s", sid, exc, extra={"callback_id": request_id})


async def expire_and_settle(p: Platform, now: dt.datetime) -> None:
    for request in await callbacks.expired_queued(p.db, now=now):
        await machine.move(p.db, request, machine.EXPIRED, states.FAILED, reason=states.EXPIRED,
                           detail="not placed in time")
    grace = max(p.settings.placing_grace_seconds, 3 * p.settings.provider_timeout_seconds)
    for request in await callbacks.stale_placing(p.db, before=now - dt.timedelta(seconds=grace)):
        following = None
        if len(p.providers) > 1:
            following = routing.after(await routing.candidates(p, request["leg_a_number"]),
                                      request["provider"] or p.default_provider_name)
        if following is not None:
            # No status callback within the grace: the provider placed no call. Should it still report
            # one, that call is not adopted but ended (the provider is in its callback URLs).
            await machine.move(p.db, request, machine.NOT_PLACED, states.QUEUED, unplaced=True, due_at=now,
                               provider=following, attempts=0,
                               detail=f"no answer from {request['provider']} and no status callback within "
                                      f"{grace:g} s; to {following}")
            p.wake_dispatcher()
            continue
        await machine.move(p.db, request, machine.NOT_PLACED, states.FAILED, reason=states.PROVIDER_ERROR,
                           detail="no answer from the provider; not redialled", unplaced=True)


class Dispatcher:
    def __init__(self, platform: Platform):
        self.p = platform
        self.in_flight: set[asyncio.Task] = set()
        self._housekeeping_at = 0.0
        self._recordings_at = 0.0
        self._pacing_ready = False
        self._late: list[tuple[object, int]] = []  # claimed and held, slot missed: (request, slots missed)
        self._stopping = False
        self._time_limits: dict[int, int] = {}  # leg A's TimeLimit of each held request, by id, until it is sent
        self.lost_callbacks = lost_callbacks.LostCallbacks(platform)
        # What "due" is measured against: a callback scheduled for tomorrow is claimed once this says
        # tomorrow. Tests move it forward instead of waiting; housekeeping keeps the real time.
        self.clock = utcnow

    async def tick(self) -> int:
        """One pass of both loops `run` keeps: housekeeping when it is due, then dialling."""
        if time.monotonic() >= self._housekeeping_at:
            await self.housekeeping()
        return await self.dial_due()

    async def housekeeping(self) -> None:
        """Expire, settle, send notices, release holds, ask the provider about lost and unpriced calls."""
        now = utcnow()
        await expire_and_settle(self.p, now)
        await notices.send_outcome_notices(self.p)
        await low_balance.send_notices(self.p)
        await reservations.release_finished(self.p.db)
        await self.lost_callbacks.run(now)
        await provider_prices.collect(self.p, now)
        if time.monotonic() >= self._recordings_at:
            await call_recordings.purge_expired(self.p, now)
            self._recordings_at = time.monotonic() + RECORDINGS_SECONDS
        self._housekeeping_at = time.monotonic() + HOUSEKEEPING_SECONDS

    async def dial_due(self) -> int:
        """Claim due requests, hold their IVR time, then dial each at a provider slot of its own: how many.

        Calls that woke too late for their slots in an earlier pass go first: they are
        still claimed and held, and only need new slots.
        """
        db, cps = self.p.db, self.p.settings.provider_cps
        # Left in the list until they have slots: a pass that fails (the database
        # unreachable) must not forget calls that are claimed but not yet sent.
        late = self._late[:]
        now = self.clock()
        due = await callbacks.count_due(db, now=now, limit=MAX_BATCH)
        if not due and not late:
            return 0
        if not self._pacing_ready:
            await pacing.ensure(db)
            self._pacing_ready = True
        # Claim no more than the slots free now: more would only go back to the queue.
        free = await pacing.free_slots(db, cps=cps, want=len(late) + due)
        claimed = []
        if due and free > len(late):
            claimed = await machine.claim(db, now=now, limit=free - len(late))
        # Holds before slots: their database time must not make a call late for its slot.
        held = [r for r in await asyncio.gather(*(self._held(r) for r in claimed)) if r is not None]
        ready = late + [(request, 0) for request in held]
        slots = await pacing.take_slots(db, cps=cps, want=len(ready)) if ready else []
        del self._late[:len(late)]  # tasks only ever append to it
        for request, misses in ready[len(slots):]:
            # Another dispatcher took these slots meanwhile.
            if misses:
                self._late.append((request, misses))
            else:
                self._time_limits.pop(request["id"], None)
                await requeue(self.p, request, "no provider slot free")
        for slot, (request, misses) in zip(slots, ready):
            task = asyncio.create_task(self._place(request, slot, misses))
            self.in_flight.add(task)
            task.add_done_callback(self._done)
        return len(slots)

    async def _place(self, request, slot_us: int, misses: int) -> None:
        # The last try is sent however late: an event loop this busy must not hold calls
        # back for ever, and a provider queues calls over its limit rather than refusing them.
        last = misses + 1 >= MAX_SLOTS
        if await place_leg_a(self.p, request, time_limit=self._time_limits.get(request["id"]), slot_us=slot_us,
                             late_us=None if last else pacing.LATE_US):
            self._time_limits.pop(request["id"], None)
            return
        # Woke too late (this event loop was busy): a new slot in the next pass, without
        # the round trip through the queue.
        self._late.append((request, misses + 1))
        self.p.work_ready.set()

    async def _held(self, request):
        """The request once its IVR time is held; None if it failed or went back to the queue."""
        try:
            time_limit = await _hold_for_leg_a(self.p, request)
            if time_limit is None:
                return None
            self._time_limits[request["id"]] = time_limit
            return request
        except Exception:
            log.exception("holding request %s failed", request["id"])
            await requeue(self.p, request, "could not hold its IVR time")
            return None

    def _done(self, task: asyncio.Task) -> None:
        self.in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("placing a call failed", exc_info=task.exception())

    async def _sleep_until_work(self) -> None:
        wait = POLL_SECONDS
        # Calls waiting for a new slot are due now, though the queue no longer holds them.
        now = self.clock()
        next_due = now if self._late else await callbacks.next_due_at(self.p.db, now=now)
        if next_due is not None:
            # Slots can be reserved a horizon ahead of their time, so wake that much early.
            slot = await pacing.seconds_to_next(self.p.db) if self._pacing_ready else 0.0
            slot -= pacing.HORIZON_US / 1_000_000
            wait = min(wait, max((next_due - now).total_seconds(), slot, 0.005))
        try:
            await asyncio.wait_for(self.p.work_ready.wait(), timeout=wait)
        except asyncio.TimeoutError:
            pass

    async def run(self) -> None:
        """Dial and keep house until cancelled, or until `stop`: then it returns once its dialling pass is over."""
        # Two loops: housekeeping asks the provider about calls and may wait on it for
        # seconds, and dialling must never queue behind that.
        keeper = asyncio.create_task(self._forever(self._keep_house, "housekeeping"))
        try:
            await self._forever(self._dial, "dialling")
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    def stop(self) -> None:
        """Have `run` return after the dialling pass under way, from this dispatcher's loop.

        A pass cancelled between its claim and its create calls would leave the requests it
        claimed in `calling_a` with nothing sent, to fail as `provider_error` once the grace
        is over; a pass let finish has started a task for each (`drain` waits for them, and
        puts back in the queue those still waiting for a slot).
        """
        self._stopping = True
        self.p.work_ready.set()

    async def _dial(self) -> None:
        self.p.work_ready.clear()
        if self._stopping:  # read after the clear: a `stop` after this wakes the sleep below
            return
        if await self.dial_due() < MAX_BATCH:
            await self._sleep_until_work()

    async def _keep_house(self) -> None:
        await self.housekeeping()
        await asyncio.sleep(HOUSEKEEPING_SECONDS)

    async def _forever(self, step, name: str) -> None:
        while not self._stopping:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database restart or a network blip must not end dispatching.
                log.exception("dispatcher pass failed (%s); retrying", name)
                await asyncio.sleep(1.0)

    async def settle(self, timeout: float = 10.0) -> None:
        """Let the calls being placed finish, giving those that woke late new slots until each is sent.

        For a caller that must see a pass's calls sent (the tests, on a loaded machine
        where a task can wake past its slot): a call's last slot is sent however late,
        so this ends. Due requests that come in meanwhile are dialled too.
        """
        deadline = time.monotonic() + timeout
        while (self.in_flight or self._late) and time.monotonic() < deadline:
            if self.in_flight:
                await asyncio.wait(self.in_flight, timeout=max(0.0, deadline - time.monotonic()))
            if self._late and not await self.dial_due():
                await asyncio.sleep(0.01)  # the next slot lies beyond the horizon

    async def drain(self, timeout: float = 5.0) -> None:
        """Let the calls being placed finish; those still waiting for a new slot go back to the queue."""
        if self.in_flight:
            await asyncio.wait(self.in_flight, timeout=timeout)
        late, self._late = self._late, []
        for request, _ in late:
            self._time_limits.pop(request["id"], None)
            await requeue(self.p, request, "missed its provider slot")
