import json
import logging
import logging.config

from app.logs import RedactSecrets, config, scrub


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
