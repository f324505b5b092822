"""The log scanner the session runs (``tests/support/secret_scan.py``) would see a leak:
secrets planted in a log file (text or JSON lines) and in a log record (its message or
its fields) are found, by format and by value."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from producersync.log_json import json_formatter
from producersync.service.auth.principal import Principal
from producersync.service.auth.secrets import new_client_secret
from producersync.service.auth.tokens import TokenCodec
from producersync.service.store import accounts, portal
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.webhooks import generate_secret
from tests.support.secret_scan import SecretScanner

_TOKEN = TokenCodec(b"k" * 32, 60).issue(Principal("psc_1", 1, False, "producersync.read"))


def _text(secret: str) -> str:
    return f"INFO start\nDEBUG sending Authorization: {secret}\nINFO stop\n"


def _json(secret: str, where: str) -> str:
    """Three lines of the JSON format, the second with ``secret`` in its message, in a
    field of its own, or in its traceback (behind an escaped newline)."""
    try:
        raise ValueError(f"refused: {secret}")
    except ValueError:
        failure = sys.exc_info()
    planted = {
        "message": {"msg": f"sending Authorization: {secret}"},
        "field": {"msg": "sending", "authorization": secret},
        "exception": {"msg": "refused", "exc_info": failure},
    }[where]
    lines = [{"msg": "start"}, planted, {"msg": "stop"}]
    formatter = json_formatter()
    return "".join(f"{formatter.format(logging.makeLogRecord(line))}\n" for line in lines)


_LINK = "psl_" + "L" * 43  # store/portal.py's format
_SECRETS = [new_client_secret(), _TOKEN, generate_secret(), _LINK]
_SECRET_KINDS = ["client-secret", "access-token", "webhook-secret", "portal-link"]


@pytest.mark.parametrize(
    "plant",
    [
        _text,
        functools.partial(_json, where="message"),
        functools.partial(_json, where="field"),
        functools.partial(_json, where="exception"),
    ],
    ids=["text", "json-message", "json-field", "json-exception"],
)
@pytest.mark.parametrize("secret", _SECRETS, ids=_SECRET_KINDS)
def test_a_secret_planted_in_a_log_file_is_found(secret: str, plant: Callable[[str], str]) -> None:
    # Outside the session's temporary directory: the session's own scan must not see it.
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "nested" / "service-1.log"
        log.parent.mkdir()
        log.write_text(plant(secret))
        scanner = SecretScanner()
        scanner.scan_files(Path(directory))
    assert len(scanner.hits) == 1 and scanner.hits[0].startswith(f"{log}:2: ")
    assert secret[10:] not in scanner.hits[0]  # the report does not leak it again


def test_a_remembered_secret_is_found_without_its_prefix() -> None:
    scanner, secret = SecretScanner(), generate_secret()
    scanner.remember(secret)
    assert scanner.find(f"key={secret.removeprefix('whsec_')}")
    assert scanner.find(f"sig {_TOKEN.rsplit('.', 1)[1]}") == []
    scanner.remember(_TOKEN)
    assert scanner.find(f"sig {_TOKEN.rsplit('.', 1)[1]}")


@pytest.mark.parametrize(
    "log",
    [
        lambda logger: logger.debug("token %s", _TOKEN),
        # Shown in a JSON line as a key of its own, not in the message.
        lambda logger: logger.debug("token refreshed", extra={"token": _TOKEN}),
    ],
    ids=["message", "field"],
)
def test_a_secret_in_a_debug_log_record_is_found(log: Callable[[logging.Logger], None]) -> None:
    # A tree of loggers of its own that stops short of the root: the session's scanner
    # must not see this one.
    planted = logging.getLogger("planted")
    planted.propagate = False
    scanner = SecretScanner()
    with scanner.watching_logs("planted", "planted.client"):
        log(logging.getLogger("planted.client"))
    assert [hit.split(":")[0] for hit in scanner.hits] == ["log record planted.client"]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:hunter2@db/mirror",
        "redis://:hunter2@cache:6379/0",
        "https://u:p@gw.example",
    ],
)
def test_a_url_s_password_in_a_log_file_is_found(url: str) -> None:
    # Outside the session's temporary directory: the session's own scan must not see it.
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "sync-1.log").write_text(_text(url))
        scanner = SecretScanner()
        scanner.scan_files(Path(directory))
    assert [hit.split(": ", 1)[1][:12] for hit in scanner.hits] == ["URL password"]


def test_a_secret_in_an_exception_a_logged_one_was_raised_from_is_found() -> None:
    """A log's traceback shows every exception of the chain, the one it was raised from
    too: the scanner read the last one's alone."""
    planted = logging.getLogger("planted")
    planted.propagate = False
    scanner = SecretScanner()
    with scanner.watching_logs("planted", "planted.client"):
        try:
            try:
                raise ValueError(f"refused: {_LINK}")
            except ValueError as exc:
                raise RuntimeError("the login failed") from exc
        except RuntimeError:
            logging.getLogger("planted.client").exception("sign-in")
        try:
            try:
                raise ValueError(f"refused: {_LINK}")
            except ValueError:
                raise RuntimeError("the login failed") from None
        except RuntimeError:
            logging.getLogger("planted.client").exception("not shown, not found")
    assert len(scanner.hits) == 1 and "portal login link" in scanner.hits[0]


def test_ordinary_log_lines_are_not_findings() -> None:
    text = 'INFO 127.0.0.1 "GET /v2/entities?continuationToken=eyJucG4iOiIxIn0.abc HTTP/1.1"'
    urls = " postgresql://***@db/mirror postgresql://postgres@127.0.0.1:5432/test"
    urls += " http://127.0.0.1:8000/portal/ https://api.example:443/v2?x=a@b"
    assert SecretScanner().find(text + urls + " whsec_ pss_short client_id=psc_0123") == []


def test_the_session_remembers_the_secrets_the_service_creates(
    secret_scanner: SecretScanner, tmp_path: Path
) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "scanned", sandbox=False)
        _, secret = accounts.create_client(conn, account, "producersync.read")
    engine.dispose()
    assert secret_scanner.find(secret.removeprefix("pss_"))


def test_the_session_remembers_portal_links_and_sessions(
    secret_scanner: SecretScanner, tmp_path: Path
) -> None:
    """A session id has no format of its own: the session knows it by value alone."""
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "signed in", sandbox=False)
        link, _ = portal.issue_link(conn, account.id, dt.timedelta(hours=1))
        session = portal.redeem_link(conn, link, dt.timedelta(hours=1))
    engine.dispose()
    assert secret_scanner.find(link.removeprefix("psl_"))
    assert secret_scanner.find(f"cookie={session}")
