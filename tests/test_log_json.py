"""The ``json`` log format (``producersync.log_json``): every record one line that parses
as a JSON object, with its time in UTC, its structured fields and its traceback."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import pytest

from producersync.log_json import json_formatter

# 2026-12-04T22:32:35.120Z: a time that is another day in most of the world's zones.
_CREATED = 1_796_423_555.12


def _record(
    msg: str = "endpoint %s disabled",
    *args: object,
    levelno: int = logging.WARNING,
    exc_info: Any = None,
    **fields: object,
) -> logging.LogRecord:
    record = logging.getLogger("producersync.test").makeRecord(
        "producersync.test", levelno, __file__, 1, msg, args, exc_info, extra=fields or None
    )
    record.created, record.msecs = _CREATED, 120.0
    return record


def _line(record: logging.LogRecord) -> dict[str, Any]:
    text = json_formatter().format(record)
    assert "\n" not in text
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def test_a_line_is_one_json_object_time_level_logger_message_first() -> None:
    line = _line(_record("endpoint %s disabled", "ep_1"))
    assert list(line.items()) == [
        ("timestamp", "2026-12-04T22:32:35.120Z"),
        ("level", "warning"),
        ("logger", "producersync.test"),
        ("message", "endpoint ep_1 disabled"),
    ]


def test_the_time_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    try:
        assert _line(_record())["timestamp"] == "2026-12-04T22:32:35.120Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_traceback_is_the_exception_string() -> None:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        record = _record("the store failed", levelno=logging.ERROR, exc_info=sys.exc_info())
    line = _line(record)
    assert line["message"] == "the store failed" and line["level"] == "error"
    assert line["exception"].startswith("Traceback (most recent call last):\n")
    assert line["exception"].endswith("ZeroDivisionError: division by zero")


def test_a_message_of_several_lines_and_quotes_stays_one_line() -> None:
    message = 'first "line"\n\tsecond, with a \\ and \u00e9'
    assert _line(_record(message))["message"] == message


def test_the_fields_given_as_extra_are_keys_of_their_own() -> None:
    line = _line(_record(run_id=12, kind="updates", events=["msg_1", "msg_2"], at=object()))
    assert (line["run_id"], line["kind"], line["events"]) == (12, "updates", ["msg_1", "msg_2"])
    assert line["at"].startswith("<object object at")  # what JSON cannot hold: its repr


def test_a_field_cannot_stand_for_the_time_the_level_or_the_logger() -> None:
    line = _line(_record(timestamp="then", level="quiet", logger="someone"))
    assert (line["timestamp"], line["level"], line["logger"]) == (
        "2026-12-04T22:32:35.120Z",
        "warning",
        "producersync.test",
    )


def test_uvicorns_coloured_copy_of_the_message_is_left_out() -> None:
    record = _record("Uvicorn running on %s", "http://127.0.0.1:8000", color_message="\x1b[1m")
    assert "color_message" not in _line(record)


def test_a_record_a_text_formatter_formatted_first_has_no_copies_of_its_message() -> None:
    record = _record("once")
    logging.Formatter("%(asctime)s %(message)s").format(record)  # pytest's handler, say
    assert set(_line(record)) == {"timestamp", "level", "logger", "message"}


# SQLAlchemy takes a password holding "/", "?" or "#" unencoded, redis-py one holding "@";
# nor is a long one (320 characters) shown.
@pytest.mark.parametrize(
    "password", ["hunter2", "hun/ter2", "hun?ter2", "hun#ter2", "hun@ter2", "hun/ter2" * 40]
)
def test_a_url_s_user_and_password_are_hidden_in_the_message_fields_and_traceback(
    password: str,
) -> None:
    """A hook's or a library's exception may quote the URL it failed on, its password
    with it: no line shows one, whatever part of the record holds it."""
    url = f"postgresql://reporter:{password}@db.example/crm"
    try:
        raise ConnectionError(f"cannot reach {url}")
    except ConnectionError:
        failure = sys.exc_info()
    line = _line(_record("hook failed on %s", url, exc_info=failure, target=url))
    assert "ter2" not in json.dumps(line) and "reporter" not in json.dumps(line)
    assert line["message"] == "hook failed on postgresql://***@db.example/crm"
    assert line["target"] == "postgresql://***@db.example/crm"
    assert line["exception"].endswith("cannot reach postgresql://***@db.example/crm")
