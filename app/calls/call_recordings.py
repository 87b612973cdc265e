"""Call recording (accounts that opted in): the provider's reports stored, the audio fetched for its
owner, and recordings deleted after the retention period.

The IVR asks for the recording (app/calls/ivr.py: `<Dial record>`, both parties told first); the
provider then posts its recording status callbacks, which land here. The audio stays at the provider:
the portal streams it from there (`open_media`), and `purge_expired` deletes it there and here once
it is older than RECORDING_RETENTION_DAYS.
"""

from __future__ import annotations

import datetime as dt
import logging

from app.data import call_recordings, callbacks
from app.data.db import utcnow
from app.platform import Platform
from app.providers.events import RecordingStatus
from app.providers.interface import ProviderError, ProviderTimeout, RecordingMedia, is_not_found
from app.core.ids import is_provider_id

log = logging.getLogger(__name__)

FORMATS = ("mp3", "wav")
PURGE_BATCH = 50


def _plausible_id(value: str) -> bool:
    # Opaque, but stored and later put in a provider URL: the characters provider ids are made of.
    return is_provider_id(value)


async def status_reported(p: Platform, *, request_id: int, event: RecordingStatus) -> bool:
    """Store what the provider says of a recording of `request_id`'s dial; False when it is not taken.

    The recording must be of the request's callback leg (the call whose <Dial> asked for it), so a
    report cannot attach a recording to another request, nor to another account.
    """
    if not _plausible_id(event.recording_id) or event.status not in call_recordings.STATUSES:
        log.warning("recording report for request %s ignored: id %r, status %r", request_id,
                    event.recording_id[:70], event.status[:20], extra={"callback_id": request_id})
        return False
    request = await callbacks.get_request(p.db, request_id=request_id)
    if request is None or request["account_id"] is None or not request["leg_a_sid"] \
            or request["leg_a_sid"] != event.call_id:
        log.warning("recording %s: not of request %s's callback leg", event.recording_id, request_id,
                    extra={"callback_id": request_id})
        return False
    # Kept for the record only (never fetched): stored when it fits its column and is plain text.
    url = event.url if event.url and len(event.url) <= 255 and event.url.isascii() and event.url.isprintable() \
        else None
    await call_recordings.record(p.db, sid=event.recording_id, account_id=request["account_id"],
                                 request_id=request_id, call_sid=event.call_id,
                                 destination=request["leg_b_number"], status=event.status,
                                 duration=event.duration, channels=event.channels, url=url)
    log.info("request %s: recording %s %s", request_id, event.recording_id, event.status,
             extra={"callback_id": request_id})
    return True


async def _provider_of(p: Platform, row):
    """The provider that recorded it: its request's (with several providers, the one leg A was placed with)."""
    request = await callbacks.get_request(p.db, request_id=row["request_id"])
    return p.provider_for(request["provider"] if request is not None else None)


async def open_media(p: Platform, *, account_id: int, recording_id: int, audio_format: str) -> RecordingMedia | None:
    """The audio of one of the account's completed recordings, from the provider; None if there is none.

    Another account's recording is None too: the same answer as one that does not exist.
    """
    if audio_format not in FORMATS:
        return None
    row = await call_recordings.get_for_account(p.db, account_id=account_id, recording_id=recording_id)
    if row is None or row["status"] != "completed":
        return None
    try:
        provider = await _provider_of(p, row)
        return await provider.fetch_recording_media(row["sid"], audio_format=audio_format)
    except ProviderError as exc:
        if is_not_found(exc):
            return None
        raise


async def purge_expired(p: Platform, now: dt.datetime | None = None) -> int:
    """Delete the recordings older than the retention period, at the provider, then here: how many.

    A recording the provider no longer has counts as deleted there. One the provider could not
    delete now (an error, no answer) stays, and is tried again on the next pass.
    """
    cutoff = (now or utcnow()) - dt.timedelta(days=p.settings.recording_retention_days)
    deleted = 0
    for row in await call_recordings.older_than(p.db, before=cutoff, limit=PURGE_BATCH):
        try:
            await (await _provider_of(p, row)).delete_recording(row["sid"])
        except (ProviderError, ProviderTimeout) as exc:
            if not is_not_found(exc):
                log.warning("recording %s: the provider did not delete it (%s); tried again later", row["sid"], exc,
                            extra={"callback_id": row["request_id"]})
                continue
        if await call_recordings.remove(p.db, recording_id=row["id"]):
            deleted += 1
            log.info("recording %s of request %s deleted after %s days of retention", row["sid"], row["request_id"],
                     p.settings.recording_retention_days, extra={"callback_id": row["request_id"]})
    return deleted
