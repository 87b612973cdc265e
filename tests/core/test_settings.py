from app.core.settings import load_settings, normalize_database_url


def test_defaults_use_sqlite_and_the_sandbox(tmp_path):
    settings = load_settings({}, env_file=tmp_path / "missing.env")
    assert settings.database_url == "sqlite:///./callback.db"
    assert settings.uses_sandbox and settings.twilio_api_base == "https://api.twilio.com"
    assert settings.dispatch_delay_seconds == 2.0 and settings.public_base_url is None


def test_env_file_is_honoured_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("TWILIO_ACCOUNT_SID=ACfromfile\nTWILIO_AUTH_TOKEN=t\nPUBLIC_BASE_URL=https://cb.example.com/\nSECRET_KEY=k\n")
    settings = load_settings({"SECRET_KEY": "from-env"}, env_file=env_file)
    assert settings.twilio_account_sid == "ACfromfile" and not settings.uses_sandbox
    assert settings.public_base_url == "https://cb.example.com"
    assert settings.secret_key == "from-env"


def test_database_urls_are_normalized():
    assert normalize_database_url("postgres://u@h/db") == "postgresql://u@h/db"
    assert normalize_database_url("postgresql+asyncpg://u@h/db") == "postgresql://u@h/db"
    assert normalize_database_url("sqlite+aiosqlite:///x.db") == "sqlite:///x.db"


def test_providers_are_an_ordered_list_of_known_names_each_once(tmp_path):
    import pytest

    missing = tmp_path / "missing.env"
    assert load_settings({}, env_file=missing).provider_names == ("sandbox",)
    twilio = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "PUBLIC_BASE_URL": "https://cb.example.com"}
    assert load_settings(twilio, env_file=missing).provider_names == ("twilio",)
    both = load_settings(twilio | {"PROVIDERS": " Twilio, sandbox "}, env_file=missing)
    assert both.provider_names == ("twilio", "sandbox") and both.uses_sandbox
    for raw, message in [("twilio,twilio", "each at most once"), ("sandbox,acme", "each at most once"),
                         ("sandbox,twilio", "TWILIO_ACCOUNT_SID is not set")]:
        with pytest.raises(SystemExit, match=message):
            load_settings({"PROVIDERS": raw}, env_file=missing)
