"""Call recording in a real browser: alice turns it on in Settings, makes a call, and plays its
recording on the Recordings page (Chromium decodes the audio the platform streams from the carrier)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from app.web.demo import seed as demo
from tests.browser.conftest import launch, log_in, watch_for_problems

ALICE_HOME = "+14155550100"
NY = "+12125550123"
ALICE = next(account for account in demo.ACCOUNTS if account[0] == "alice")


@pytest.fixture(scope="module")
def platform_url(tmp_path_factory):
    yield from launch(tmp_path_factory, "recording")


@pytest.fixture(scope="module")
def sandbox(platform_url):
    control = platform_url + "/sandbox/_sandbox"
    with httpx.Client(timeout=10) as client:
        for number, script in ((ALICE_HOME, {"keys": ["1", None], "answer_after": 2.0}),
                               (NY, {"answer_after": 2.0, "talk_seconds": 20.0})):
            assert client.put(f"{control}/phones/{quote(number)}", json=script).status_code == 200
        assert client.put(f"{control}/clock", json={"speed": 20}).status_code == 200
    return control


def test_turn_recording_on_call_and_play_the_recording(page, platform_url, sandbox):
    from playwright.sync_api import expect

    problems = watch_for_problems(page, platform_url)
    log_in(page, platform_url, "alice", ALICE[1])
    page.get_by_role("link", name="Settings").click()
    box = page.get_by_label("Record my calls to the second party")
    expect(box).not_to_be_checked()
    box.check()
    box.locator("xpath=ancestor::form").get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your settings were saved.")).to_be_visible()
    expect(page.get_by_label("Record my calls to the second party")).to_be_checked()

    page.get_by_role("link", name="Dashboard").click()
    page.get_by_label("Number to call").fill("(212) 555-0123")
    page.get_by_role("button", name="Call", exact=True).click()
    state = page.locator("#call-status").locator('[data-field="state"]')
    expect(state).to_have_text("completed", timeout=40_000)

    page.get_by_role("link", name="Recordings").click()
    expect(page.get_by_text("Your calls to the second party are recorded")).to_be_visible()
    player = page.locator("audio")
    for _ in range(20):  # the carrier's "completed" callback follows the call's end
        if player.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(player).to_have_count(1)
    expect(page.locator("table")).to_contain_text(NY)
    seconds = page.evaluate("""() => new Promise((resolve, reject) => {
        const audio = document.querySelector('audio');
        audio.addEventListener('loadedmetadata', () => resolve(audio.duration));
        audio.addEventListener('error', () => reject(new Error('audio error ' + (audio.error && audio.error.code))));
        audio.load();
    })""")
    assert seconds > 0
    assert problems == []
