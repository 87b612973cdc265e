"""The portal's recordings: the account's recorded calls, listed and played.

The audio is at the provider; it is fetched there with the platform's provider credentials
(app/calls/call_recordings.py) and streamed to the signed-in owner, so the browser never
learns a provider URL or credential. Another account's recording is "not found", as one that
does not exist.
"""

from __future__ import annotations

from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from app.calls import call_recordings
from app.data import call_recordings as stored
from app.providers.interface import ProviderError, ProviderTimeout
from app.web.portal.pages import Visit, portal_page

MAX_ID = 2**31 - 1


@portal_page()
async def recordings_page(visit: Visit) -> Response:
    p, account = visit.p, visit.account
    rows = await stored.list_for_account(p.db, account_id=account["id"])
    return visit.render("portal/recordings.html", active="recordings", recordings=rows,
                        retention_days=p.settings.recording_retention_days)


@portal_page()
async def recording_audio(visit: Visit) -> Response:
    recording_id = visit.request.path_params["recording_id"]
    audio_format = visit.request.path_params["audio_format"]
    if recording_id > MAX_ID or audio_format not in call_recordings.FORMATS:
        return visit.error(404, "Not found", "There is no such recording in your account.")
    try:
        media = await call_recordings.open_media(visit.p, account_id=visit.account["id"], recording_id=recording_id,
                                                 audio_format=audio_format)
    except (ProviderError, ProviderTimeout):
        return visit.error(502, "Not available", "The recording could not be fetched just now. Try again later.")
    if media is None:
        return visit.error(404, "Not found", "There is no such recording in your account.")
    headers = {"Content-Disposition": f'inline; filename="recording-{recording_id}.{audio_format}"',
               "Cache-Control": "private, no-store"}
    if media.length is not None:
        headers["Content-Length"] = str(media.length)
    return StreamingResponse(media.chunks, media_type=media.content_type, headers=headers)


routes = [
    Route("/recordings", recordings_page, methods=["GET"]),
    Route("/recordings/{recording_id:int}.{audio_format}", recording_audio, methods=["GET"]),
]
