"""The log scanner the session runs (``tests/support/secret_scan.py``) would see a leak:
secrets planted in a log file and in a log record are found, by format and by value."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from producersync.service.auth.principal import Principal
from producersync.service.auth.secrets import new_client_secret
from producersync.service.auth.tokens import TokenCodec
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.webhooks import generate_secret
from tests.support.secret_scan import SecretScanner

_TOKEN = TokenCodec(b"k" * 32, 60).issue(Principal("psc_1", 1, False, "producersync.read"))


@pytest.mark.parametrize(
    "secret",
    [new_client_secret(), _TOKEN, generate_secret()],
    ids=["client-secret", "access-token", "webhook-secret"],
)
def test_a_secret_planted_in_a_log_file_is_found(secret: str) -> None:
    # Outside the session's temporary directory: the session's own scan must not see it.
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "nested" / "service-1.log"
        log.parent.mkdir()
        log.write_text(f"INFO start\nDEBUG sending Authorization: {secret}\nINFO stop\n")
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


def test_a_secret_in_a_debug_log_record_is_found() -> None:
    # A tree of loggers of its own that stops short of the root: the session's scanner
    # must not see this one.
    planted = logging.getLogger("planted")
    planted.propagate = False
    scanner = SecretScanner()
    with scanner.watching_logs("planted", "planted.client"):
        logging.getLogger("planted.client").debug("token %s", _TOKEN)
    assert [hit.split(":")[0] for hit in scanner.hits] == ["log record planted.client"]


def test_ordinary_log_lines_are_not_findings() -> None:
    text = 'INFO 127.0.0.1 "GET /v2/entities?continuationToken=eyJucG4iOiIxIn0.abc HTTP/1.1"'
    assert SecretScanner().find(text + " whsec_ pss_short client_id=psc_0123") == []


def test_the_session_remembers_the_secrets_the_service_creates(
    secret_scanner: SecretScanner, tmp_path: Path
) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "scanned", sandbox=False)
        _, secret = accounts.create_client(conn, account, "producersync.read")
    engine.dispose()
    assert secret_scanner.find(secret.removeprefix("pss_"))
