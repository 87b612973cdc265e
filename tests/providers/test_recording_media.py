"""The Twilio adapter's recording calls over real HTTP: where the audio is fetched from, with which
credentials, and what follows a redirect to storage (Twilio answers media requests with one)."""

from __future__ import annotations

import base64

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.providers.interface import Credentials, ProviderError
from app.providers.twilio import TwilioProvider
from sandbox import serve
from tests.utils import twilio as tw

SID = "RE" + "ab" * 16


async def test_media_is_fetched_from_the_api_base_with_credentials_that_never_follow_a_redirect():
    seen: dict[str, list] = {"api": [], "storage": []}
    storage_url = {}

    async def api(request: Request) -> Response:
        seen["api"].append((request.url.path, request.headers.get("authorization")))
        if request.headers.get("authorization") != "Basic " + base64.b64encode(
                f"{tw.ACCOUNT_SID}:{tw.AUTH_TOKEN}".encode()).decode():
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        if request.path_params["sid"] != SID:
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, status_code=404)
        return RedirectResponse(f"{storage_url['base']}/bucket/{SID}.{request.path_params['ext']}", status_code=302)

    async def storage(request: Request) -> Response:
        seen["storage"].append((request.url.path, request.headers.get("authorization")))
        return Response(b"\xff\xfb\x18\xc0" + bytes(140) * 3, media_type="audio/mpeg")

    api_app = Starlette(routes=[Route("/2010-04-01/Accounts/{account}/Recordings/{sid}.{ext}", api)])
    storage_app = Starlette(routes=[Route("/bucket/{name}", storage)])
    async with serve(api_app) as api_base, serve(storage_app) as storage_base:
        storage_url["base"] = storage_base.replace("127.0.0.1", "localhost")  # another origin
        provider = TwilioProvider(Credentials(tw.ACCOUNT_SID, tw.AUTH_TOKEN, api_base), timeout=5)
        try:
            media = await provider.fetch_recording_media(SID, audio_format="mp3")
            audio = b"".join([chunk async for chunk in media.chunks])
            assert media.content_type == "audio/mpeg" and audio[:2] == b"\xff\xfb" and len(audio) == 4 + 420
            assert seen["api"] == [(f"/2010-04-01/Accounts/{tw.ACCOUNT_SID}/Recordings/{SID}.mp3", seen["api"][0][1])]
            assert seen["storage"] == [(f"/bucket/{SID}.mp3", None)]  # the credentials stayed with the API

            with pytest.raises(ProviderError) as gone:
                await provider.fetch_recording_media("RE" + "cd" * 16, audio_format="wav")
            assert gone.value.not_found and gone.value.status == 404
            # An id that is not a plain provider id never reaches a URL.
            for odd in ("../Calls", "RE1/../../x", "", "RE" + "0" * 70):
                with pytest.raises(ProviderError) as refused:
                    await provider.fetch_recording_media(odd)
                assert refused.value.not_found
            assert len(seen["api"]) == 2
            with pytest.raises(ValueError):
                await provider.fetch_recording_media(SID, audio_format="ogg")
        finally:
            await provider.aclose()
