import pytest

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


SIGNALWIRE = {"PROVIDER": "signalwire", "SIGNALWIRE_SPACE_URL": "example.signalwire.com",
              "SIGNALWIRE_PROJECT_ID": "b3877c40-da60-4998-90ad-b792e98472af", "SIGNALWIRE_API_TOKEN": "PTtoken",
              "SIGNALWIRE_SIGNING_KEY": "PSK_key", "PUBLIC_BASE_URL": "https://cb.example.com"}


def test_provider_defaults_to_twilio_with_its_credentials_else_the_sandbox(tmp_path):
    none = tmp_path / "missing.env"
    assert load_settings({}, env_file=none).provider_name == "sandbox"
    twilio = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "PUBLIC_BASE_URL": "https://cb.example.com"}
    assert load_settings(twilio, env_file=none).provider_name == "twilio"
    signalwire = load_settings(SIGNALWIRE, env_file=none)
    assert signalwire.provider_name == "signalwire" and not signalwire.uses_sandbox
    # Credentials of another provider left in the environment do not choose for PROVIDER.
    assert load_settings({**twilio, "PROVIDER": "Sandbox"}, env_file=none).uses_sandbox


@pytest.mark.parametrize("environ, message", [
    ({"PROVIDER": "plivo"}, "PROVIDER must be one of sandbox, twilio, signalwire, telnyx, got 'plivo'"),
    ({"PROVIDER": "twilio", "PUBLIC_BASE_URL": "https://cb.example.com"},
     "PROVIDER=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN"),
    ({**SIGNALWIRE, "SIGNALWIRE_SIGNING_KEY": ""}, "PROVIDER=signalwire needs SIGNALWIRE_SIGNING_KEY"),
    ({**SIGNALWIRE, "SIGNALWIRE_PROJECT_ID": "", "SIGNALWIRE_API_TOKEN": ""},
     "PROVIDER=signalwire needs SIGNALWIRE_PROJECT_ID, SIGNALWIRE_API_TOKEN"),
    ({**SIGNALWIRE, "PUBLIC_BASE_URL": ""}, "PUBLIC_BASE_URL is required with PROVIDER=signalwire"),
    ({**SIGNALWIRE, "SIGNALWIRE_SPACE_URL": "ftp://example.signalwire.com"}, "SIGNALWIRE_SPACE_URL must be"),
    ({**SIGNALWIRE, "SIGNALWIRE_SIGNING_KEY": "PTtoken"}, "SIGNALWIRE_SIGNING_KEY is the project's signing key"),
    ({"SANDBOX_DIALECT": "telnyx2"}, "SANDBOX_DIALECT must be one of twilio, signalwire"),
])
def test_an_unknown_or_half_configured_provider_refuses_to_start(tmp_path, environ, message):
    with pytest.raises(SystemExit) as refused:
        load_settings(environ, env_file=tmp_path / "missing.env")
    assert message in str(refused.value)


def test_providers_are_an_ordered_list_of_known_names_each_once(tmp_path):
    import pytest

    missing = tmp_path / "missing.env"
    assert load_settings({}, env_file=missing).provider_names == ("sandbox",)
    twilio = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "PUBLIC_BASE_URL": "https://cb.example.com"}
    assert load_settings(twilio, env_file=missing).provider_names == ("twilio",)
    both = load_settings(twilio | {"PROVIDERS": " Twilio, sandbox "}, env_file=missing)
    assert both.provider_names == ("twilio", "sandbox") and both.uses_sandbox
    # PROVIDER=x is PROVIDERS=x; both set, they must agree.
    assert load_settings(SIGNALWIRE, env_file=missing).provider_names == ("signalwire",)
    several = load_settings(SIGNALWIRE | twilio | {"PROVIDERS": "signalwire,twilio"}, env_file=missing)
    assert several.provider_names == ("signalwire", "twilio") and several.provider_name == "signalwire"
    for environ, message in [({"PROVIDERS": "twilio,twilio"}, "each at most once"),
                             ({"PROVIDERS": "sandbox,acme"}, "each at most once"),
                             ({"PROVIDERS": "sandbox,twilio"}, "PROVIDER=twilio needs TWILIO_ACCOUNT_SID"),
                             ({"PROVIDERS": "sandbox,signalwire"}, "PROVIDER=signalwire needs SIGNALWIRE_SPACE_URL"),
                             ({"PROVIDER": "twilio", "PROVIDERS": "sandbox,twilio"}, "disagree")]:
        with pytest.raises(SystemExit, match=message):
            load_settings(environ, env_file=missing)
