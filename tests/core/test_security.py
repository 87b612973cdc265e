from app.core import security


def test_passwords_are_argon2_and_verify():
    digest = security.hash_password("correct horse")
    assert digest.startswith("$argon2")
    assert security.verify_password(digest, "correct horse")
    assert not security.verify_password(digest, "wrong")
    assert not security.verify_password(None, "anything")
    assert not security.verify_password("not-a-hash", "x")


def test_pin_digest_is_keyed_and_stable():
    a = security.pin_digest("key-1", "482193")
    assert a == security.pin_digest("key-1", "482193")
    assert a != security.pin_digest("key-2", "482193")
    assert "482193" not in a and len(a) == 64


def test_pin_rules():
    assert security.pin_problem("482193") is None
    assert security.pin_problem("1234") == "a PIN has at least 6 digits"
    assert security.pin_problem("1234", min_length=4) is None
    assert security.pin_problem("12a456") and security.pin_problem("1" * 13)


def test_api_tokens_are_random_and_stored_as_digests():
    one, two = security.new_api_token(), security.new_api_token()
    assert one != two and len(one) > 40
    assert security.token_digest(one) != one and len(security.token_digest(one)) == 64
