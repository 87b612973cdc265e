"""The admin page for recorded prompts: every prompt in every language, upload, bad uploads, delete, the media URL.

Driven as a browser would, with the Browser of tests/utils/web.py; what each
action changed is read back from the database and from the media URL.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from app.data import recordings
from app.data.db import utcnow
from app.data.tables import prompt_recordings
from tests.web.test_admin import text_of
from tests.utils.harness import PlatformUnderTest
from tests.utils.web import Browser, operator, web_platform
from twiml.prompts import PROMPTS, VOICE_PROMPTS, parts

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)
MP3 = b"\xff\xfb\x90\x64" + bytes(60)  # an MPEG audio frame, no ID3 tag


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine, subscribers=False) as platform:
        yield platform


def stored(p: PlatformUnderTest) -> dict:
    with p.engine.connect() as c:
        rows = c.execute(sa.select(prompt_recordings)).mappings().all()
    return {(row["prompt"], row["language"]): row for row in rows}


def upload(admin: Browser, name: str, language: str, audio: bytes | None, filename: str = "take.wav",
           content_type: str = "audio/wav", **kwargs):
    admin.get("/admin/prompts")
    files = {"file": (filename, audio, content_type)} if audio is not None else None
    return admin.submit("/admin/prompts", {"prompt": name, "language": language}, files=files, **kwargs)


def words(fragment: str) -> str:
    return text_of(SimpleNamespace(text=fragment))


def row_of(response, name: str, language: str) -> str:
    anchor = f"rec-{language}-{name.replace('.', '-')}"
    return re.search(rf'<tr id="{anchor}".*?</tr>', response.text, flags=re.DOTALL).group(0)


def test_the_page_lists_every_prompt_in_every_language_with_its_parts(p):
    admin = operator(p)
    page = admin.get("/admin/prompts")
    assert page.status_code == 200
    assert re.search(r'<a href="/admin/prompts" aria-current="page">Prompts</a>', page.text)
    assert admin.get("/admin").text.count('href="/admin/prompts"') == 1  # in the nav of every page
    for language in PROMPTS:
        for key in VOICE_PROMPTS:
            for part in parts(key, language):
                if part.is_value:
                    continue
                row = words(row_of(page, part.recording, language))
                assert part.text in row and "spoken" in row and "Upload" in row, (key, language)
    connecting = words(row_of(page, "connecting.1", "fr"))
    assert "spoken: 0 of 3 parts recorded" in connecting
    assert "{balance}" in connecting and "{minutes}" in connecting and "<audio" not in page.text


def test_upload_play_replace_and_delete(p):
    admin = operator(p)
    saved = upload(admin, "enter_pin", "es", WAV)
    assert saved.status_code == 200 and "The recording of enter_pin (es) was saved." in text_of(saved)
    row = row_of(saved, "enter_pin", "es")
    assert "recorded" in row and "Replace" in row
    src = re.search(r'<audio controls preload="none" src="([^"]+)"', row).group(1)
    assert src.startswith("/media/prompts/enter_pin/es?v=")
    served = p.client.get(src)
    assert served.status_code == 200 and served.content == WAV and served.headers["content-type"] == "audio/wav"
    assert stored(p)[("enter_pin", "es")]["content_type"] == "audio/wav"
    assert "<audio" not in row_of(saved, "enter_pin", "en")  # one language's recording is not another's

    # Replaced: the type comes from the bytes, whatever the browser declared; the player's URL changes.
    replaced = upload(admin, "enter_pin", "es", MP3, filename="take.mp3", content_type="application/octet-stream")
    assert replaced.status_code == 200
    new_src = re.search(r'<audio controls preload="none" src="([^"]+)"', row_of(replaced, "enter_pin", "es")).group(1)
    assert new_src != src
    served = p.client.get("/media/prompts/enter_pin/es")
    assert served.content == MP3 and served.headers["content-type"] == "audio/mpeg"
    assert len(stored(p)) == 1

    removed = admin.submit("/admin/prompts/remove", {"prompt": "enter_pin", "language": "es"})
    assert removed.status_code == 200 and "The recording of enter_pin (es) was removed." in text_of(removed)
    assert "spoken" in row_of(removed, "enter_pin", "es") and "<audio" not in removed.text
    assert stored(p) == {} and p.client.get("/media/prompts/enter_pin/es").status_code == 404
    again = admin.submit("/admin/prompts/remove", {"prompt": "enter_pin", "language": "es"})
    assert again.status_code == 422 and "There is no such recording (removed already?)." in text_of(again)


def test_a_value_prompt_is_played_once_all_its_parts_are_uploaded(p):
    admin = operator(p)
    for n in (1, 2):
        assert upload(admin, f"connecting.{n}", "fr", WAV).status_code == 200
    status = words(row_of(admin.page, "connecting.1", "fr"))
    assert "spoken: 2 of 3 parts recorded" in status
    page = upload(admin, "connecting.3", "fr", MP3, filename="c3.mp3", content_type="audio/mpeg")
    assert "played: all parts recorded" in row_of(page, "connecting.1", "fr")
    assert set(stored(p)) == {(f"connecting.{n}", "fr") for n in (1, 2, 3)}
    assert p.client.get("/media/prompts/connecting.3/fr").content == MP3


@pytest.mark.parametrize("name, language, audio, filename, message", [
    ("enter_pin", "en", b"prefix,price\n44,0.05\n", "rates.csv", "enter_pin (en): The file is not MP3 or WAV audio."),
    ("enter_pin", "en", b"OggS\x00\x02" + bytes(40), "take.ogg", "The file is not MP3 or WAV audio."),
    ("enter_pin", "en", b"", "silence.wav", "enter_pin (en): The file is empty."),
    ("enter_pin", "en", None, "", "enter_pin (en): Choose an MP3 or WAV file to upload."),
    ("enter_pin", "en", b"", "", "Choose an MP3 or WAV file to upload."),
    ("enter_pin", "en", WAV + bytes(recordings.MAX_BYTES), "long.wav", "enter_pin (en): The file is larger than 5 MB."),
    ("nope", "en", WAV, "take.wav", "There is no prompt named 'nope' that is spoken on calls."),
    ("sms_help", "en", WAV, "take.wav", "There is no prompt named 'sms_help' that is spoken on calls."),
    ("connecting", "es", WAV, "take.wav",
     "There is no 'connecting' to record: in es, connecting is recorded as connecting.1 + connecting.2 + connecting.3."),
    ("connecting.4", "en", WAV, "take.wav", "There is no 'connecting.4' to record"),
    ("enter_pin", "de", WAV, "take.wav", "The language is one of en, es, fr."),
    ("", "", WAV, "take.wav", "The language is one of en, es, fr."),
])
def test_bad_uploads_are_form_errors_and_store_nothing(p, name, language, audio, filename, message):
    admin = operator(p)
    admin.get("/admin/prompts")
    files = {"file": (filename, audio, "audio/wav")} if audio is not None else None
    response = admin.submit("/admin/prompts", {"prompt": name, "language": language}, files=files)
    assert response.status_code == 422
    assert message in text_of(response)
    assert 'role="alert"' in response.text
    if name == "enter_pin" and language == "en":  # a known part: the message is next to its form too
        assert 'id="rec-en-enter_pin-error"' in row_of(response, "enter_pin", "en")
    assert stored(p) == {}


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(p):
    admin = operator(p)
    huge = upload(admin, "goodbye", "en", WAV + bytes(recordings.MAX_BYTES + 200 * 1024))
    assert huge.status_code == 413 and "an upload may be up to 5 MB" in text_of(huge)
    assert stored(p) == {}


def test_recordings_need_a_signed_in_operator_and_the_forms_csrf_token(p):
    visitor = Browser(p)
    assert visitor.request("GET", "/admin/prompts").headers["location"] == "/admin/login?next=/admin/prompts"
    assert visitor.request("POST", "/admin/prompts", data={"prompt": "goodbye", "language": "en"},
                           files={"file": ("a.wav", WAV, "audio/wav")}).status_code == 403
    admin = operator(p)
    refused = upload(admin, "goodbye", "en", WAV, csrf="forged")
    assert refused.status_code == 403 and "Form refused" in refused.text
    p.run(recordings.store, p.platform.db, prompt="goodbye", language="en", audio=WAV)
    assert admin.submit("/admin/prompts/remove", {"prompt": "goodbye", "language": "en"},
                        csrf="").status_code == 403
    assert ("goodbye", "en") in stored(p)


def test_recordings_no_prompt_plays_are_listed_and_can_be_deleted(p):
    """A recording of a prompt whose text has since gained a value: never played, shown apart, deletable."""
    with p.engine.begin() as c:
        c.execute(prompt_recordings.insert().values(prompt="connecting", language="es", content_type="audio/wav",
                                                    audio=WAV, created_at=utcnow()))
    admin = operator(p)
    page = admin.get("/admin/prompts")
    unused = re.search(r'<ul class="plain" id="unused">.*?</ul>', page.text, flags=re.DOTALL).group(0)
    assert "connecting" in unused and "(es)" in unused
    assert admin.submit("/admin/prompts/remove", {"prompt": "connecting", "language": "es"}).status_code == 200
    assert stored(p) == {} and 'id="unused"' not in admin.page.text


def test_odd_input_is_a_form_message_never_a_500(p):
    admin = operator(p)
    admin.get("/admin/prompts")
    token = admin.csrf
    nasty = ["", " ", "\x00", "x" * 5000, "../../etc/passwd", "<img src=x onerror=alert(1)>", "connecting.\x00",
             "enter_pin/en", "٣", "connecting.1.1", "connecting.01"]
    for value in nasty:
        for path in ("/admin/prompts", "/admin/prompts/remove"):
            response = admin.submit(path, {"prompt": value, "language": value}, csrf=token, follow=False,
                                    files={"file": (value[:20], WAV, "audio/wav")} if path == "/admin/prompts" else None)
            assert response.status_code == 422, (path, value)
            assert "<img src=x" not in response.text
        query = urlencode({"done": "removed", "prompt": value[:100], "language": value[:100]})
        shown = admin.get("/admin/prompts?" + query)
        assert shown.status_code == 200 and "<img src=x" not in shown.text
    assert stored(p) == {}


def test_the_audio_type_comes_from_the_bytes_not_the_name():
    assert recordings.audio_type(WAV) == "audio/wav"
    assert recordings.audio_type(MP3) == recordings.audio_type(b"ID3\x04\x00" + bytes(20)) == "audio/mpeg"
    for other in [b"", b"\xff", b"\xff\xf1\x50\x80", b"OggS\x00", b"RIFF\x00\x00\x00\x00AVI ", b"%PDF-1.7",
                  b"<html>"]:
        assert recordings.audio_type(other) is None, other
