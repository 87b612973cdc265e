from tests.utils.harness import Platform


def test_healthz_checks_the_database(settings, engine):
    with Platform(settings, engine) as p:
        response = p.client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "provider": "twilio"}
