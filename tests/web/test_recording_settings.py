"""The call-recording opt-in: off by default, set by the subscriber (portal), the operator (admin
pages) and the CLI; the portal lists recordings only to their owner."""

from __future__ import annotations

import sqlalchemy as sa

from app.data.tables import accounts as accounts_t
from tests.utils.web import logged_in, operator, web_platform


def recording_on(engine, login: str) -> bool:
    with engine.connect() as c:
        return c.execute(sa.select(accounts_t.c.record_calls).where(accounts_t.c.login == login)).scalar_one()


def account_id(engine, login: str) -> int:
    with engine.connect() as c:
        return c.execute(sa.select(accounts_t.c.id).where(accounts_t.c.login == login)).scalar_one()


def test_the_opt_in_from_the_portal_the_admin_pages_and_the_cli(settings, engine):
    with web_platform(settings, engine) as p:
        assert recording_on(engine, "alice") is False  # off unless asked for

        alice = logged_in(p)
        page = alice.get("/settings")
        assert 'name="record_calls"' in page.text and "checked" not in page.text.split('name="record_calls"')[1][:60]
        saved = alice.submit("/settings/profile", {"default_number": "", "language": "en", "record_calls": "on"})
        assert "Your settings were saved." in saved.text and recording_on(engine, "alice") is True
        assert "Your calls to the second party are recorded" in alice.get("/recordings").text
        alice.submit("/settings/profile", {"default_number": "", "language": "en"})  # the box unticked
        assert recording_on(engine, "alice") is False
        assert "Call recording is off" in alice.get("/recordings").text

        admin = operator(p)
        path = f"/admin/accounts/{account_id(engine, 'alice')}"
        admin.get(path)
        form = {"default_number": "", "language": "en", "confirm_mode": "press1", "caller_id_mode": "service",
                "tariff": "default", "callback_tariff": "default", "max_concurrent": "3", "retry_attempts": "1",
                "max_call_minutes": "", "max_call_cost": ""}
        assert admin.submit(path + "/settings", {**form, "record_calls": "on"}).status_code == 200
        assert recording_on(engine, "alice") is True
        admin.get(path)
        assert admin.submit(path + "/settings", form).status_code == 200  # a form without the field keeps it
        assert recording_on(engine, "alice") is True
        admin.get(path)
        refused = admin.submit(path + "/settings", {**form, "record_calls": "maybe"})
        assert refused.status_code == 422 and "Call recording is one of off, on" in refused.text
        assert admin.submit(path + "/settings", {**form, "record_calls": "off"}).status_code == 200
        assert recording_on(engine, "alice") is False

        assert p.cli("account", "set", "bob", "--record-calls", "on") == 0 and recording_on(engine, "bob") is True
        assert p.cli("account", "set", "bob", "--record-calls", "off") == 0 and recording_on(engine, "bob") is False


def test_the_portal_answers_a_provider_failure_with_a_page_not_a_500(settings, engine, monkeypatch):
    from app.calls import call_recordings
    from app.providers.events import RecordingStatus
    from app.providers.interface import ProviderError, ProviderTimeout
    from tests.utils import scenario as sc
    from tests.utils.provider import TwilioRecorder

    with web_platform(settings, engine, operator=False) as p, TwilioRecorder().cassette("calls_create.yaml"):
        s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
        s.trigger()
        assert p.dispatch() == 1
        event = RecordingStatus(recording_id="RE" + "1" * 32, call_id=s.row["leg_a_sid"], status="completed",
                                duration=9, channels=2)
        assert p.run(call_recordings.status_reported, p.platform, request_id=s.request_id, event=event)
        with engine.connect() as c:
            from app.data.tables import call_recordings as recordings_t
            recording_id = c.execute(sa.select(recordings_t.c.id)).scalar_one()
        failures = iter([ProviderError("down", status=503, retryable=True), ProviderTimeout("slow"),
                         ProviderError("gone", code=20404, status=404, retryable=False, not_found=True)])

        async def failing(sid, *, audio_format="mp3"):
            raise next(failures)

        monkeypatch.setattr(p.platform.provider, "fetch_recording_media", failing)
        alice = logged_in(p)
        assert "9 s" in alice.get("/recordings").text
        for status in (502, 502, 404):
            answer = alice.get(f"/recordings/{recording_id}.mp3")
            assert answer.status_code == status and answer.headers["content-type"].startswith("text/html")
            assert "Traceback" not in answer.text


def test_the_retention_period_is_a_number_of_days():
    import pytest

    from app.core.settings import load_settings

    assert load_settings({}, env_file=None).recording_retention_days == 30
    assert load_settings({"RECORDING_RETENTION_DAYS": "90"}, env_file=None).recording_retention_days == 90
    for wrong in ("0", "-5", "a month"):
        with pytest.raises(SystemExit, match="RECORDING_RETENTION_DAYS"):
            load_settings({"RECORDING_RETENTION_DAYS": wrong}, env_file=None)
