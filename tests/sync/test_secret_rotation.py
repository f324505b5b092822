"""Secrets rotated as docs/operations.md tells an operator to, against real processes: the
service (`producersync service run`) and the sync (`producersync sync run`), events
flowing all along."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from producersync.sync.mirror.tables import receipts
from tests.support import plain_http
from tests.support.cli import in_process
from tests.support.service import token_response
from tests.support.sync_harness import TODAY, Harness, running_harness, subscribed_and_synced
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(90)


def _synced(harness: Harness, day: dt.date) -> None:
    """A day's NIPR run, once its event is accepted and processed and the mirror is equal
    to what the API serves (a restart's catch-up may have synced past the day already)."""
    accepted = len(_signatures(harness))
    harness.nipr_run(day)

    def done() -> bool:
        processed = harness.status()["receipts"]["unprocessed"] == 0
        return processed and len(_signatures(harness)) == accepted + 1

    eventually(done, timeout=60, what=harness.report)
    harness.wait_equal()


def _restarted(harness: Harness, secrets: str) -> None:
    harness.sync.stop()
    harness.sync.env["PRODUCERSYNC_WEBHOOK_SECRETS"] = secrets
    harness.sync.start()


def _entity(harness: Harness, token: str) -> int:
    url = f"{harness.service_url}/v2/entities/15645555"
    return plain_http.get(url, headers={"authorization": f"Bearer {token}"}).status_code


def _signatures(harness: Harness) -> dict[str, int]:
    """Each accepted receipt's event id, with the signatures its delivery carried."""
    with harness.mirror.connect() as conn:
        rows = conn.execute(
            sa.select(receipts.c.event_id, receipts.c.headers).where(
                receipts.c.verdict == "accepted"
            )
        ).all()
    return {str(r.event_id): len(r.headers["webhook-signature"].split()) for r in rows}


def _rotated(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    harness: Harness,
    *args: str,
) -> dict[str, object]:
    """``producersync admin ARGS --json`` (a rotation) on the harness's store, through
    main in this process (the operator's shell is not what these tests are about)."""
    command = ["admin", *args, "--json", "--database", harness.store_url]
    code, out, err = in_process(monkeypatch, capsys)(command, {})
    assert code == 0, err
    rotated: dict[str, object] = orjson.loads(out)
    return rotated


def test_a_webhook_secret_rotated_while_events_flow_loses_and_repeats_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_harness("sqlite", tmp_path) as harness:
        subscribed_and_synced(harness, 5, timeout=90)
        old = harness.secret
        before = set(_signatures(harness))
        rotated = _rotated(
            monkeypatch, capsys, harness, "endpoint", "rotate-secret", harness.endpoint_id
        )
        new = str(rotated["secret"])
        assert new != old and new.startswith("whsec_")

        # The sync still holds the old secret only: each delivery is signed with both.
        _synced(harness, TODAY - dt.timedelta(days=5))
        # The receiver set to accept both, as operations.md says, then the new one alone.
        _restarted(harness, f"{new},{old}")
        _synced(harness, TODAY - dt.timedelta(days=4))
        _restarted(harness, new)
        _synced(harness, TODAY - dt.timedelta(days=3))

        signed = _signatures(harness)
        status = harness.status()["receipts"]
    after = {event: count for event, count in signed.items() if event not in before}
    assert len(after) == 3 and set(after.values()) == {2}, after
    assert (status["rejected"], status["duplicate"], status["failed"]) == (0, 0, 0), status


def test_a_client_secret_rotated_under_a_running_sync_names_the_setting_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old secret's token is refused within seconds and no new one is given for it:
    a run in between fails, and says which settings to change; restarted with the new
    secret, as operations.md says, the sync runs it again and the mirror is whole."""
    retry = {"PRODUCERSYNC_SYNC_RETRY_SECONDS": "2"}
    with running_harness("sqlite", tmp_path, sync_env=retry) as harness:
        subscribed_and_synced(harness, 5, timeout=90)
        client_id = harness.sync.env["PRODUCERSYNC_CLIENT_ID"]
        old = harness.sync.env["PRODUCERSYNC_CLIENT_SECRET"]
        token = token_response(harness.service_url, client_id, old).json()["access_token"]
        rotated = _rotated(monkeypatch, capsys, harness, "client", "rotate-secret", client_id)
        # Once a token of the old secret's is refused, the sync's cached one is too.
        eventually(lambda: _entity(harness, token) == 401, what=harness.report)
        day = TODAY - dt.timedelta(days=5)
        harness.nipr_run(day)

        def refused() -> bool:
            return f"(updates, runDate {day}) failed" in harness.sync.log.read_text()

        eventually(refused, timeout=60, what=harness.report)
        failed = [line for line in harness.sync.log.read_text().splitlines() if " failed " in line]
        assert any(f"(updates, runDate {day}) failed" in line for line in failed), failed
        for line in failed:
            assert "PRODUCERSYNC_CLIENT_ID and PRODUCERSYNC_CLIENT_SECRET" in line, line

        harness.sync.stop()
        harness.sync.env["PRODUCERSYNC_CLIENT_SECRET"] = str(rotated["client_secret"])
        harness.sync.start()

        def synced() -> bool:
            status = harness.status()
            return bool(
                status["lastSyncedRunDate"] is not None
                and status["lastSyncedRunDate"] >= day.isoformat()
                and status["receipts"]["unprocessed"] == 0
            )

        eventually(synced, timeout=60, what=harness.report)
        harness.wait_equal()
        assert harness.status()["receipts"]["rejected"] == 0
    log = harness.sync.log.read_text()
    # The client id is named (the SDK's refusal says which client to check), never a secret.
    assert str(rotated["client_secret"]) not in log and old not in log
