from tests.utils.harness import PlatformUnderTest


def test_healthz_checks_the_database(settings, engine):
    with PlatformUnderTest(settings, engine) as p:
        response = p.client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "provider": "twilio", "providers": ["twilio"]}
