"""Recorded prompts in a real browser: an operator uploads a recording, plays it, is told off for a file
that is not audio, and deletes it, against a live server (see conftest.py: Debian's Chromium, never downloaded).
"""

from __future__ import annotations

import io
import wave

import pytest

from tests.browser.conftest import launch, sign_in, watch_for_problems


def tone(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A WAV file of `seconds` of silence, as a telephone would play it: 8 kHz, 16-bit, mono."""
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(bytes(2 * int(seconds * rate)))
    return out.getvalue()


@pytest.fixture(scope="module")
def prompts_url(tmp_path_factory):
    """A migrated platform with an operator, served by uvicorn."""
    yield from launch(tmp_path_factory, "prompts-browser", demo_data=False, operator=True)


def test_an_operator_uploads_plays_and_deletes_a_recording(page, prompts_url):
    from playwright.sync_api import expect

    # The file that is not audio is refused with 422, which the browser logs; anything else is a problem.
    problems = watch_for_problems(page, prompts_url, allowed_console="status of 422")
    sign_in(page, prompts_url, "/admin/prompts")
    expect(page.get_by_role("heading", name="Recorded prompts")).to_be_visible()
    expect(page.get_by_role("navigation", name="Admin").get_by_role("link", name="Prompts")).to_have_attribute(
        "aria-current", "page")

    page.get_by_label("Audio for goodbye (en)").set_input_files(
        files=[{"name": "notes.wav", "mimeType": "audio/wav", "buffer": b"these are not sounds"}])
    page.get_by_role("button", name="Upload goodbye (en)").click()
    expect(page.get_by_role("alert")).to_contain_text("goodbye (en): The file is not MP3 or WAV audio.")
    expect(page.locator("#rec-en-goodbye")).to_contain_text("The file is not MP3 or WAV audio.")

    page.get_by_label("Audio for connecting.2 (es)").set_input_files(
        files=[{"name": "puede-hablar.wav", "mimeType": "audio/wav", "buffer": tone(0.5)}])
    page.get_by_role("button", name="Upload connecting.2 (es)").click()
    expect(page.get_by_role("status")).to_have_text("The recording of connecting.2 (es) was saved.")
    row = page.locator("#rec-es-connecting-2")
    expect(row).to_contain_text("recorded")
    expect(page.locator("#rec-es-connecting-1")).to_contain_text("spoken: 1 of 3 parts recorded")
    # The player loads the recording from the media URL the provider fetches, under the page's CSP.
    player = page.get_by_label("Recording of connecting.2 (es)", exact=True)
    expect(player).to_be_visible()
    duration = player.evaluate("""audio => new Promise((resolve, reject) => {
        audio.addEventListener("loadedmetadata", () => resolve(audio.duration), {once: true});
        audio.addEventListener("error", () => reject(new Error("the recording did not load")), {once: true});
        audio.load();
    })""")
    assert duration == pytest.approx(0.5, abs=0.05)

    page.get_by_role("button", name="Delete the recording of connecting.2 (es)").click()
    expect(page.get_by_role("status")).to_have_text("The recording of connecting.2 (es) was removed.")
    expect(row).to_contain_text("spoken")
    expect(row.locator("audio")).to_have_count(0)
    assert problems == []
