import json
import logging
import logging.config
import sys

from app.core.logs import RedactSecrets, config, scrub


def test_access_log_urls_and_headers_are_scrubbed():
    line = '127.0.0.1:5000 - "GET /sms/gateway?task=send&secret=s3cr3t-value HTTP/1.1" 200'
    assert "s3cr3t-value" not in scrub(line) and "secret=[redacted]" in scrub(line)
    assert "abc.def" not in scrub("headers: {'Authorization': 'Bearer abc.def'}")
    assert "cbp_" + "x" * 30 not in scrub("token cbp_" + "x" * 30)


def test_log_records_are_json_lines(capsys):
    logging.config.dictConfig(config())
    try:
        logging.getLogger("app.test").info("request %s: queued", 7, extra={"callback_id": 7})
        line = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["message"] == "request 7: queued" and record["callback_id"] == 7
        assert record["level"] == "INFO" and record["logger"] == "app.test"
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


def test_the_filter_rewrites_only_what_it_must():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /x?token=%s", ("abc",), None)
    RedactSecrets().filter(record)
    assert record.getMessage() == "GET /x?token=[redacted]"


def _log_through(monkeypatch, capsys, *, tty: bool) -> str:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    logging.config.dictConfig(config())
    try:
        logging.getLogger("app.test").info("GET /sms/gateway?secret=%s", "s3cr3t-value", extra={"callback_id": 7})
        return capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


def test_a_terminal_gets_plain_lines_still_scrubbed(monkeypatch, capsys):
    line = _log_through(monkeypatch, capsys, tty=True)
    assert not line.startswith("{")
    assert "INFO    app.test: GET /sms/gateway?secret=[redacted] callback_id=7" in line
    assert "s3cr3t-value" not in line


def test_anything_but_a_terminal_gets_json_still_scrubbed(monkeypatch, capsys):
    record = json.loads(_log_through(monkeypatch, capsys, tty=False))
    assert record["message"] == "GET /sms/gateway?secret=[redacted]" and record["callback_id"] == 7


def test_the_choice_can_be_forced():
    assert config(human=True)["handlers"]["default"]["formatter"] == "human"
    assert config(human=False)["handlers"]["default"]["formatter"] == "json"


def test_plain_lines_keep_a_traceback_below_the_extras(monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    logging.config.dictConfig(config())
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("app.test").exception("failed", extra={"callback_id": 9})
        lines = capsys.readouterr().err.strip().splitlines()
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    assert lines[0].endswith("app.test: failed callback_id=9")
    assert lines[1] == "Traceback (most recent call last):" and lines[-1] == "ValueError: boom"
