"""The sync commands over a mirror of the test's own, against a scripted API: what a
manual pull records, a refused replay, and the commands that only read a mirror."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

import httpx2
import orjson
import pytest
import sqlalchemy as sa
import typer
from dbos import DBOSClient

from producersync.cli.common import err_console
from producersync.cli.sync import _wait_for, comparison_table, synced_through
from producersync.client import Client
from producersync.model.events import EndpointTest, UpdatesAvailable, iso_z
from producersync.sync import mirror
from producersync.sync.mirror import feed
from producersync.sync.settings import SyncSettings
from producersync.sync.verify import Comparison, compare
from tests.support.cli import (
    api_through,
    error_both_ways,
    producersync,
    producersync_output,
    sync_environment,
)
from tests.support.processes import cli
from tests.support.service import free_port
from tests.sync.mirror_data import BACKENDS, fresh_mirror


def _today() -> dt.date:
    # Read when a test runs, not once at import: a run crossing midnight (UTC) compared
    # the day before with the commands' today.
    return dt.datetime.now(dt.UTC).date()


def _yesterday() -> dt.date:
    return _today() - dt.timedelta(days=1)


@pytest.fixture
def mirror_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return sync_environment(tmp_path, monkeypatch)


@pytest.fixture
def engine(mirror_file: Path) -> Iterator[sa.Engine]:
    engine = mirror.open_mirror(f"sqlite:///{mirror_file}")
    yield engine
    engine.dispose()


def _no_changes(request: httpx2.Request) -> httpx2.Response:
    """An API where nothing changed: a token, and every list empty, the subscriptions
    list and the population too."""
    if request.url.path == "/oauth2/token":
        return httpx2.Response(200, json={"access_token": "t", "expires_in": 3600})
    path = request.url.path
    if path.startswith("/v1/") and path != "/v1/accounts/subscriptions":
        return httpx2.Response(200, json={"page": {"totalElements": 0}})  # a backfill's totals
    assert path.startswith(("/v2/", "/v1/accounts/subscriptions")), request.url
    return httpx2.Response(200, json={})


def _api_answering(
    monkeypatch: pytest.MonkeyPatch, handler: Callable[[httpx2.Request], httpx2.Response]
) -> None:
    """The sync's settings and its client pointed at ``handler``."""
    monkeypatch.setenv("PRODUCERSYNC_API_URL", "https://api.example")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_1")
    transport = httpx2.MockTransport(handler)
    api_through(monkeypatch, transport)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, mirror_file: Path) -> None:
    _api_answering(monkeypatch, _no_changes)


def _state(engine: sa.Engine) -> tuple[dt.date | None, int]:
    """The last synced runDate, and the runs recorded."""
    with engine.connect() as conn:
        last = mirror.last_synced_run_date(conn)
    run = _last_run(engine)
    return last, 0 if run is None else run["id"]


def _last_run(engine: sa.Engine) -> Any:
    """The last run as `sync status --json` shows it (None before any)."""
    with engine.connect() as conn:
        return mirror.sync_status(conn)["lastRun"]


def test_a_pull_moves_the_last_synced_run_date_only_when_it_leaves_no_day_out() -> None:
    last = _today() - dt.timedelta(days=5)
    assert synced_through(last, last, _yesterday()) == _yesterday()
    assert synced_through(last - dt.timedelta(days=1), last, _yesterday()) == _yesterday()
    assert synced_through(last + dt.timedelta(days=1), last, _yesterday()) is None
    assert synced_through(_today(), None, _yesterday()) == _yesterday()  # nothing synced yet


def test_sync_now_from_after_the_last_synced_run_date_leaves_it(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    last = _today() - dt.timedelta(days=5)
    with mirror.write_transaction(engine) as conn:
        mirror.set_last_synced_run_date(conn, last)
    later = (last + dt.timedelta(days=2)).isoformat()
    code, err = producersync(monkeypatch, capsys, "sync", "now", "--since", later)
    assert code == 0, err
    assert _state(engine)[0] == last  # the two days between were never pulled
    run = _last_run(engine)
    assert (run["since"], run["runDate"], run["status"]) == (later, None, "succeeded")
    code, err = producersync(monkeypatch, capsys, "sync", "now", "--since", last.isoformat())
    assert code == 0, err
    assert _state(engine)[0] == _yesterday()
    code, err = producersync(monkeypatch, capsys, "sync", "now")  # from the last one
    assert code == 0, err
    assert _state(engine)[0] == _yesterday()


def test_sync_now_before_any_daily_sync_starts_the_day_before_the_first_fetch(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with mirror.write_transaction(engine) as conn:
        mirror.finish_run(conn, mirror.start_run(conn, "activation"), {})
    code, err = producersync(monkeypatch, capsys, "sync", "now")
    assert code == 0, err
    run = _last_run(engine)
    assert (run["kind"], run["since"]) == ("manual", _yesterday().isoformat())
    assert _state(engine)[0] == _yesterday()


def test_a_backfill_marks_each_npn_active_from_its_own_activation(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A removal delivered between the backfill's read of the list and its write of the
    population lost to an activation stamped with the time of that write: the NPN stayed
    active in the mirror, unsubscribed."""
    activated = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    listed = {"npn": "12345678", "activatedAt": activated.isoformat()}

    def api(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/accounts/subscriptions":
            page = {"size": 1000, "totalElements": 1, "totalPages": 1, "number": 0}
            return httpx2.Response(
                200, json={"embedded": {"subscriptions": [listed]}, "page": page}
            )
        return _no_changes(request)

    _api_answering(monkeypatch, api)
    with mirror.write_transaction(engine) as conn:  # the removal, delivered meanwhile
        mirror.deactivate_npns(conn, ["12345678"], activated + dt.timedelta(days=1), purge=False)
    code, err = producersync(monkeypatch, capsys, "sync", "backfill")
    assert code == 0, err
    with engine.connect() as conn:
        assert mirror.active_npns(conn) == []


def test_a_backfill_gives_sync_now_a_day_to_start_from(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every record of every NPN: synced through yesterday, as `sync now` records. Left
    without a day, `sync now` after a backfill told the user to run a backfill."""
    code, err = producersync(monkeypatch, capsys, "sync", "now")
    assert (code, err) == (
        1,
        "error: nothing synced yet: give --since, or run `producersync sync backfill`\n",
    )
    code, err = producersync(monkeypatch, capsys, "sync", "backfill")
    assert code == 0, err
    assert _state(engine)[0] == _yesterday()
    code, err = producersync(monkeypatch, capsys, "sync", "now")
    assert code == 0, err
    run = _last_run(engine)
    assert (run["kind"], run["since"], run["status"]) == (
        "manual",
        _yesterday().isoformat(),
        "succeeded",
    )


def _one_license(request: httpx2.Request) -> httpx2.Response:
    """``_no_changes``, with one license in the licenses list."""
    if request.url.path == "/v2/licenses":
        row = {"id": 7, "npn": "15645555", "forState": "CA", "updatedAt": "2026-01-02"}
        return httpx2.Response(200, json={"embedded": {"licenses": [row]}})
    return _no_changes(request)


def test_a_pull_prints_the_records_it_changed_under_changed_and_nothing_else(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Its counts were bare ``licenses: 0`` lines, which read as "no license fetched"
    when the mirror already held every record the pull read, after the progress bar's
    last frame, on stdout too."""
    api_through(monkeypatch, httpx2.MockTransport(_one_license))
    said = []
    for _ in range(2):
        code, out, err = producersync_output(
            monkeypatch, capsys, "sync", "now", "--since", "2026-01-01"
        )
        assert code == 0, err
        assert "streams" not in err  # no bar's last frame where stderr is no terminal
        said.append(out.splitlines())
    assert said[0][:4] == ["run: 1", "kind: manual", "changed:", "  entities: 0"]
    assert "  licenses: 1" in said[0] and "  licenses: 0" in said[1]


def test_a_pull_draws_its_progress_bar_on_stderr_when_it_is_a_terminal(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api_through(monkeypatch, httpx2.MockTransport(_one_license))
    monkeypatch.setattr(err_console, "_force_terminal", True)
    code, out, err = producersync_output(
        monkeypatch, capsys, "sync", "now", "--since", "2026-01-01"
    )
    assert code == 0, err
    assert "manual: streams" in err
    assert out.splitlines()[0] == "run: 1"


_SUBSCRIBED = {"15645555": "2026-01-05T10:00:00Z", "19855109": "2026-01-06T11:30:00Z"}


def _subscribed(request: httpx2.Request) -> httpx2.Response:
    """``_no_changes``, with two NPNs in the subscriptions list."""
    if request.url.path == "/v1/accounts/subscriptions":
        rows = [{"npn": npn, "activatedAt": at} for npn, at in _SUBSCRIBED.items()]
        page = {"size": 100, "totalElements": len(rows), "totalPages": 1, "number": 0}
        return httpx2.Response(200, json={"embedded": {"subscriptions": rows}, "page": page})
    return _no_changes(request)


def test_a_backfill_leaves_no_activation_owed(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The backfill covers each listed NPN's activation: the activation events the
    sync service receives after it fetch nothing. Activated at the backfill's time and
    not marked fetched, every NPN stayed owed, and the collector fetched the whole
    population again."""
    transport = httpx2.MockTransport(_subscribed)
    api_through(monkeypatch, transport)
    code, err = producersync(monkeypatch, capsys, "sync", "backfill")
    assert code == 0, err
    with engine.connect() as conn:
        assert mirror.owed_fetches(conn, list(_SUBSCRIBED)) == []
        # An activation event carries the list's time: it changes nothing.
        at = {npn: dt.datetime.fromisoformat(when) for npn, when in _SUBSCRIBED.items()}
    with mirror.write_transaction(engine) as conn:
        assert mirror.activate_npns(conn, list(at), at) == []
        assert mirror.owed_fetches(conn, list(at)) == []
        # A later activation (deactivated and subscribed again since) is owed.
        later = at["15645555"] + dt.timedelta(days=30)
        mirror.activate_npns(conn, ["15645555"], later)
        assert mirror.owed_fetches(conn, list(at)) == ["15645555"]


@pytest.mark.parametrize(
    ("command", "kind"), [(["now", "--since", "2026-01-01"], "manual"), (["backfill"], "backfill")]
)
def test_a_pull_sent_sigterm_is_recorded_interrupted_and_exits_143(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    kind: str,
) -> None:
    """What systemd, `docker stop` or `kill` send stops a pull as Ctrl-C does: before, it
    ended the process on the spot, its run left running until its lease ran out."""
    sent: list[str] = []

    def terminated_mid_pull(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.startswith("/v2/") and not sent:  # a stream's first page
            sent.append(request.url.path)
            os.kill(os.getpid(), signal.SIGTERM)
        return _no_changes(request)

    transport = httpx2.MockTransport(terminated_mid_pull)
    api_through(monkeypatch, transport)
    received: list[int] = []

    def before(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, before)
    try:
        code, out, err = producersync_output(monkeypatch, capsys, "sync", *command)
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sent, "no stream was pulled"
    assert (code, received) == (143, []), out + err  # 128 + 15, as a shell tells it
    assert after is before  # the command's handler lasted as long as the command
    run = _last_run(engine)
    assert (run["kind"], run["status"], run["finishedAt"]) == (kind, "interrupted", None)
    said = " ".join(out.split())
    assert f"stopped: sync run {run['id']} ({kind}) is recorded as interrupted" in said
    assert "Traceback" not in said + err


@pytest.mark.parametrize("command", [["now", "--since", "2026-01-01"], ["backfill"]])
def test_a_pull_while_another_is_going_on_is_refused_and_changes_nothing(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """Two `sync now` (or backfills) at once pulled the same pages side by side, each at
    the whole of the credential's rate limit."""
    asked: list[str] = []

    def recorded(request: httpx2.Request) -> httpx2.Response:
        asked.append(request.url.path)
        return _no_changes(request)

    transport = httpx2.MockTransport(recorded)
    api_through(monkeypatch, transport)
    with mirror.write_transaction(engine) as conn:
        going = mirror.start_run(conn, "backfill", lease=dt.timedelta(hours=1))
    before = _state(engine)
    code, err = producersync(monkeypatch, capsys, "sync", *command)
    assert code == 1, err
    assert err.startswith(f"error: sync run {going} (backfill) is running on this mirror, ")
    assert "one `sync now` or `sync backfill` at a time" in err and len(err.splitlines()) == 1
    assert _state(engine) == before
    assert [path for path in asked if path != "/oauth2/token"] == []  # not even the population
    with mirror.write_transaction(engine) as conn:
        mirror.finish_run(conn, going, {})
    code, err = producersync(monkeypatch, capsys, "sync", *command)
    assert code == 0, err


@pytest.mark.parametrize("days", [1, 30000])
def test_sync_now_from_a_day_to_come_is_refused_and_changes_nothing(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    days: int,
) -> None:
    with mirror.write_transaction(engine) as conn:
        mirror.set_last_synced_run_date(conn, _today() - dt.timedelta(days=3))
    before = _state(engine)
    since = (_today() + dt.timedelta(days=days)).isoformat()
    code, err = producersync(monkeypatch, capsys, "sync", "now", "--since", since)
    assert code == 2, err
    assert f"'{since}' is in the future" in " ".join(err.replace("│", " ").split())
    assert _state(engine) == before


def _record(engine: sa.Engine, body: bytes, event_id: str, processed: bool) -> None:
    with mirror.write_transaction(engine) as conn:
        receipt = mirror.Receipt(
            event_id, "webhook.test", dt.datetime.now(dt.UTC), {}, body, mirror.ACCEPTED
        )
        mirror.record_receipt(conn, receipt)
        if processed:
            mirror.mark_processed(conn, event_id, dt.datetime.now(dt.UTC))


_FORGED = "no signature matches the webhook secret"


def _unprocessed(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(mirror.sync_status(conn)["receipts"]["unprocessed"])


@pytest.mark.parametrize(
    ("event_id", "said"),
    [
        ("evt_test", "'evt_test' needs no work (an endpoint test)"),
        ("evt_garbled", "the recorded body of 'evt_garbled' is not an event"),
        ("evt_unknown", "no accepted event 'evt_unknown' in the mirror's receipts"),
        # Said no more than the unknown id's: why it was not accepted is what is asked.
        (
            "evt_forged",
            "no accepted event 'evt_forged' in the mirror's receipts; its latest delivery, "
            "at 2026-12-01T08:00:00.000Z, was rejected: no signature matches the webhook secret",
        ),
    ],
)
def test_a_refused_replay_changes_nothing(
    mirror_file: Path,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    event_id: str,
    said: str,
) -> None:
    test = EndpointTest.create("ep_1", event_id="evt_test")
    _record(engine, test.model_dump_json(by_alias=True).encode(), "evt_test", processed=True)
    _record(engine, b'{"id": "evt_garbled"}', "evt_garbled", processed=True)
    with mirror.write_transaction(engine) as conn:
        for hour, why in enumerate(["missing webhook-signature header", _FORGED], 7):
            at = dt.datetime(2026, 12, 1, hour, tzinfo=dt.UTC)
            receipt = mirror.Receipt("evt_forged", None, at, {}, b"{}", f"rejected: {why}")
            mirror.record_receipt(conn, receipt)
    code, err = producersync(monkeypatch, capsys, "sync", "replay", event_id)
    assert code == 1 and err.startswith(f"error: {said}") and len(err.splitlines()) == 1, err
    assert _unprocessed(engine) == 0
    # No DBOS system database made for an event that needs no workflow.
    assert [p.name for p in mirror_file.parent.iterdir() if "dbos" in p.name] == []


@pytest.mark.parametrize(
    ("event_id", "fault"),
    [
        ("", "it is empty"),
        ("  ", "it holds ' '"),
        (" evt_1", "it holds ' '"),
        ("evt 1", "it holds ' '"),
        ("evt_é", "it holds 'é'"),
        ("evt_" + "0" * 253, "it is 257 characters long, past the 256 of an event id"),
    ],
)
def test_a_replay_of_what_cannot_be_an_event_id_is_a_usage_error(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    event_id: str,
    fault: str,
) -> None:
    """An empty id (a shell variable unset), one with a space or past the webhook-id's
    256 characters, was looked for and not found: exit 1, a failure, where the
    command's input was wrong."""
    code, err = producersync(monkeypatch, capsys, "sync", "replay", event_id)
    assert code == 2, err
    told = " ".join(err.replace("│", " ").split())
    assert fault in told and "give the id of a recorded event" in told, told


def test_a_replay_from_a_mirror_that_is_not_there_makes_none(
    mirror_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It made an empty mirror at the (mistyped) path, and a DBOS database beside it,
    then said the event was not in it."""
    code, err = producersync(monkeypatch, capsys, "sync", "replay", "evt_1")
    assert code == 2 and err.startswith(f"error: no mirror at {mirror_file}"), err
    assert list(mirror_file.parent.iterdir()) == []


def test_a_replay_before_any_sync_service_ran_changes_nothing(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The DBOS system database has no tables yet: the replay failed after marking the
    event owed again, and it stayed unprocessed for good."""
    event = UpdatesAvailable.create(_yesterday(), event_id="evt_updates")
    _record(engine, event.to_json(), event.id, processed=True)
    code, err = producersync(monkeypatch, capsys, "sync", "replay", event.id)
    assert code == 1 and err.startswith("error: no sync service has run"), err
    assert len(err.splitlines()) == 1
    assert _unprocessed(engine) == 0


def test_a_replay_waits_for_the_sync_service_a_bounded_time(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No sync service runs here: nothing takes the workflow from its queue."""
    # The system database, as a sync service that ran once left it: DBOS migrates it at
    # launch, never from a client.
    client = DBOSClient(system_database_url=SyncSettings().system_database_url())
    client._sys_db.run_migrations()
    client.destroy()
    event = UpdatesAvailable.create(_yesterday(), event_id="evt_updates")
    _record(engine, event.to_json(), event.id, processed=True)
    args = ["sync", "replay", event.id, "--wait", "--timeout", "1"]
    code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert code == 1, (out, err)
    queued, waiting = out.splitlines()
    workflow_id = queued.removeprefix("queued ")
    assert workflow_id.startswith("replay-evt_updates-")
    assert waiting == "waiting for the sync service to pick it up and run it (at most 1 s)"
    assert err == (
        f"error: no sync service picked up {workflow_id} within 1 s: it stays queued, "
        "and runs once `producersync sync run` is running\n"
    )


@dataclass
class _Handle:
    """A workflow handle whose workflow stays in ``statuses``, the last one for good."""

    statuses: list[SimpleNamespace]
    workflow_id: str = "replay-evt_1-0"

    def get_status(self) -> SimpleNamespace:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@pytest.mark.parametrize(
    ("statuses", "said"),
    [
        (["PENDING"], "error: replay-evt_1-0 is still running after 1 s (the sync service has it)"),
        (["ENQUEUED", "ERROR"], "error: replay-evt_1-0 ended ERROR: HTTPError: 503"),
    ],
    ids=["still-running", "failed"],
)
def test_a_replay_waited_for_tells_how_it_ended_in_one_line(
    capsys: pytest.CaptureFixture[str], statuses: list[str], said: str
) -> None:
    error = RuntimeError("HTTPError: 503")
    handle = _Handle([SimpleNamespace(status=s, error=error) for s in statuses])
    with pytest.raises(typer.Exit) as exited:
        _wait_for(handle, 1)  # type: ignore[arg-type]
    assert exited.value.exit_code == 1
    assert capsys.readouterr().err == f"{said}\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--wait", "--timeout", "0"], "'0' is not a whole number of seconds from 1 to 86400"),
        (["--wait", "--timeout", "1.5"], "'1.5' is not a whole number of seconds from 1 to"),
        (["--timeout", "5"], "Invalid value for '--timeout': '5' given without --wait"),
    ],
    ids=["zero", "fraction", "without-wait"],
)
def test_a_bad_replay_timeout_is_a_usage_error_and_changes_nothing(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    said: str,
) -> None:
    event = UpdatesAvailable.create(_yesterday(), event_id="evt_updates")
    _record(engine, event.to_json(), event.id, processed=True)
    code, err = producersync(monkeypatch, capsys, "sync", "replay", event.id, *args)
    assert code == 2, err
    assert said in " ".join(err.replace("│", " ").split())
    assert _unprocessed(engine) == 0


def test_sync_changes_and_report_changes_print_the_same_camel_case_json(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {"id": 7, "npn": "15645555", "updatedAt": "2026-01-02", "forState": "CO"}
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [record])
        mirror.upsert_records(conn, "licenses", [{**record, "updatedAt": "2026-01-03"}])
    since = ["--since", "2000-01-01", "--json"]
    code, lines, err = producersync_output(monkeypatch, capsys, "sync", "changes", *since)
    assert code == 0, err
    code, report, err = producersync_output(monkeypatch, capsys, "report", "changes", *since)
    assert code == 0, err
    changes = [orjson.loads(line) for line in lines.splitlines()]  # one object a line
    assert changes == orjson.loads(report)["changes"]
    assert [(c["action"], c["recordId"]) for c in changes] == [("insert", 7), ("update", 7)]
    keys = {"id", "changedAt", "action", "resource", "recordId", "npn", "fields", "runId"}
    assert all(change.keys() == keys for change in changes)


def test_the_report_changes_table_names_every_field_an_update_changed(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table showed three of an update's fields and a count: an address whose zip
    had changed read "line1, niprDateUpdated, transactionId, +2", the zip unnamed. An
    insert, naming every field of the record, still shows a few."""
    address = {"id": 7, "npn": "15645555", "line1": "1 Main St", "zip": "10001"}
    address |= {"niprDateUpdated": "2026-01-02", "transactionId": "t1", "updatedAt": "2026-01-02"}
    changed = {"line1": "2 Main St", "zip": "10002", "niprDateUpdated": "2026-01-03"}
    changed |= {"transactionId": "t2", "updatedAt": "2026-01-03"}
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "addresses", [address])
        mirror.upsert_records(conn, "addresses", [{**address, **changed}])
    args = ["report", "changes", "--since", "2000-01-01"]
    code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert code == 0, err
    words = [word.strip(",") for word in out.split()]
    insert, update = words.index("insert"), words.index("update")
    assert set(changed) <= set(words[update:]), out
    assert "+4" in words[insert:update], out  # 7 fields: three of them, and +4


@pytest.mark.parametrize("command", [["sync", "changes"], ["report", "changes"]])
def test_changes_page_with_after_the_last_id_read(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """Three changes of one batch bear one time: with --limit, --since alone could not
    get past the first page."""
    records = [{"id": n, "npn": "15645555", "updatedAt": "2026-01-02"} for n in (7, 8, 9)]
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", records)
    read: list[int] = []
    for after in ([], ["--after", "0"], ["--after", "1"], ["--after", "3"]):
        args = [*command, "--since", "2000-01-01", "--limit", "2", *after, "--json"]
        code, out, err = producersync_output(monkeypatch, capsys, *args)
        assert code == 0, err
        body = [orjson.loads(line) for line in out.splitlines()]
        found = body if command[0] == "sync" else body[0]["changes"]
        read += [change["recordId"] for change in found]
    assert read == [7, 8, 7, 8, 8, 9]


def test_sync_changes_prints_one_line_a_change_however_long(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An insert names every field: its line was wrapped at 80 columns (stdout not a
    terminal), a script reading a line a change got pieces of one."""
    fields = {f"field{n}": n for n in range(20)}
    record = {"id": 7, "npn": "15645555", "updatedAt": "2026-01-02", **fields}
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [record])
    code, out, err = producersync_output(
        monkeypatch, capsys, "sync", "changes", "--since", "2000-01-01"
    )
    assert code == 0, err
    line = out.removesuffix("\n")
    assert "\n" not in line, out
    assert line.split(" ", 6)[2:6] == ["insert", "licenses", "7", "npn=15645555"]
    assert line.endswith(",updatedAt"), line


def test_sync_changes_fields_are_the_lines_seventh_word(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The docs give a line as `ID TIME ACTION RESOURCE RECORD_ID npn=NPN FIELDS`, FIELDS
    comma-separated; joined with ", " they were a word each, and `awk '{print $7}'` read
    the first field alone."""
    record = {"id": 7, "npn": "15645555", "updatedAt": "2026-01-02", "active": True}
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [record])
    code, out, err = producersync_output(
        monkeypatch, capsys, "sync", "changes", "--since", "2000-01-01"
    )
    assert code == 0, err
    words = out.split()
    assert len(words) == 7, out
    assert words[6].split(",") == ["active", "id", "npn", "updatedAt"]


def test_sync_changes_lines_page_with_after_the_id_each_starts_with(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line had no id: the --after that pages the feed was in the JSON alone."""
    records = [{"id": n, "npn": "15645555", "updatedAt": "2026-01-02"} for n in (7, 8, 9)]
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", records)
    read: list[str] = []
    after: list[str] = []
    while True:
        args = ["sync", "changes", "--since", "2000-01-01", "--limit", "2", *after]
        code, out, err = producersync_output(monkeypatch, capsys, *args)
        assert code == 0, err
        if not out:
            break
        lines = [line.split(" ") for line in out.splitlines()]
        read += [line[4] for line in lines]  # the record id
        after = ["--after", lines[-1][0]]
    assert read == ["7", "8", "9"]


class _ClosedPipe:
    """A stdout whose reader has gone (``| head -1`` once it has its line)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


@pytest.mark.parametrize("command", [["sync", "changes"], ["report", "changes", "--json"]])
def test_changes_are_written_as_they_are_read(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """The whole feed was read into a list before its first line was written: hundreds
    of MB for a large mirror, and a `| head -1` waited for all of it. A reader that has
    gone stops the read, quietly (exit 1, as Click ends on a closed pipe)."""
    records = [{"id": n, "npn": "15645555", "updatedAt": "2026-01-02"} for n in range(3_000)]
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", records)
    read = 0
    to_change = feed._change

    def counted(values: Any, listed: list[str] | None) -> mirror.Change:
        nonlocal read
        read += 1
        return to_change(values, listed)

    monkeypatch.setattr(feed, "_change", counted)
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code, _, err = producersync_output(monkeypatch, capsys, *command, "--since", "2000-01-01")
    assert (code, err) == (1, "")
    assert 0 < read < len(records)


def test_sync_changes_with_none_says_so_on_stderr(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed nothing at all; stdout stays empty, for scripts reading a line a change."""
    since = ["--since", "2999-01-01"]
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "changes", *since)
    assert (code, out, err) == (0, "", "no change since 2999-01-01T00:00:00.000Z\n")
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "changes", *since, "--json")
    assert (code, out, err) == (0, "", "")


def test_sync_verify_prints_camel_case_json(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with mirror.write_transaction(engine) as conn:
        mirror.activate_npns(conn, ["15645555"], dt.datetime.now(dt.UTC))
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "verify", "--json")
    assert code == 1, err  # the mirror holds an NPN the API does not list
    verified = orjson.loads(out)
    assert list(verified) == ["population", "populationDifferences", "resources", "equal"]
    assert verified["populationDifferences"] == ["15645555: active in the mirror, not subscribed"]
    assert verified["resources"][0] == {
        "resource": "entities",
        "served": 0,
        "equal": 0,
        "differences": [],
    }


def test_sync_verify_that_cannot_compare_exits_3_not_its_differs(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API refusing the credentials exited 1, verify's "the mirror differs": a
    script branching on it rebuilt a mirror that was right."""

    def refusing(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(401, json={"error": "invalid_client"})

    _api_answering(monkeypatch, refusing)
    error, err = error_both_ways(monkeypatch, capsys, 3, "sync", "verify")
    assert "invalid_client" in str(error["message"]), error
    assert err == f"error: {error['message']}\n"


@pytest.mark.parametrize(("population", "title"), [(1, "(1 NPN)"), (300, "(300 NPNs)")])
def test_the_verify_table_counts_the_npns_in_words(population: int, title: str) -> None:
    """One subscribed NPN, as the README's walk-through has, read "(1 NPNs)"."""
    table = comparison_table(Comparison(population, [], []))
    assert str(table.title).endswith(title)


def _serving_15645555(
    served: dict[str, list[dict[str, Any]]],
) -> Callable[[httpx2.Request], httpx2.Response]:
    """An API whose one subscribed NPN, 15645555, has the records ``served``."""
    listed = {"npn": "15645555", "activatedAt": "2026-01-01T00:00:00+00:00"}

    def api(request: httpx2.Request) -> httpx2.Response:
        key = request.url.path.removeprefix("/v2/").removeprefix("/v1/accounts/")
        if key in {"subscriptions", *served}:
            records = [listed] if key == "subscriptions" else served[key]
            page = {"size": 1000, "totalElements": len(records), "totalPages": 1, "number": 0}
            return httpx2.Response(200, json={"embedded": {key: records}, "page": page})
        return _no_changes(request)

    return api


@pytest.mark.parametrize("backend", BACKENDS)
def test_sync_verify_compares_a_nul_character_as_the_mirror_stores_it(
    backend: str, tmp_path: Path
) -> None:
    """PostgreSQL stores U+FFFD for it, and verify said the record differed from the
    API's, there as served; SQLite stores it as it came. A real difference is still one."""
    loa = {"id": 8, "npn": "15645555", "loa": "Li\x00fe", "licenseId": 7}
    license = {"id": 7, "npn": "15645555", "note\x00": ["a\x00"], "licenseLoas": [loa]}
    served = {"licenses": [license], "licenseLoas": [loa]}
    transport = httpx2.MockTransport(_serving_15645555(served))
    with (
        fresh_mirror(backend, tmp_path) as engine,
        Client("psc_1", "pss_1", base_url="https://api.example", transport=transport) as client,
    ):
        with mirror.write_transaction(engine) as conn:
            mirror.activate_npns(conn, ["15645555"], dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            mirror.upsert_records(conn, "licenses", [license])
        with engine.connect() as conn:
            assert compare(client, conn).equal
        loa["loa"] = "Life"
        with engine.connect() as conn:
            found = {r.resource: r.differences for r in compare(client, conn).resources}
    assert found["licenseLoas"] == found["licenseLoas (nested)"] == ["8: loa differ"]


def test_sync_verify_reads_nested_children_sent_in_the_reference_s_container(
    engine: sa.Engine,
) -> None:
    """Served as ``{"regulatoryActionValues": [...]}``, a regulatory action's values were
    none served to verify, which then compared none of those the mirror held."""
    value = {"id": 9, "npn": "15645555", "type": "REASON", "regulatoryActionId": 7}
    action = {"id": 7, "npn": "15645555", "regulatoryActionValues": [value]}
    contained = {**action, "regulatoryActionValues": {"regulatoryActionValues": [value]}}
    transport = httpx2.MockTransport(_serving_15645555({"regulatoryActions": [contained]}))
    with Client("psc_1", "pss_1", base_url="https://api.example", transport=transport) as client:
        with mirror.write_transaction(engine) as conn:
            mirror.activate_npns(conn, ["15645555"], dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            mirror.upsert_records(conn, "regulatoryActions", [action])
        with engine.connect() as conn:
            comparison = compare(client, conn)
    nested = next(r for r in comparison.resources if r.resource.endswith("Values (nested)"))
    assert comparison.equal and (nested.served, nested.equal) == (1, 1)


def test_sync_verify_compares_the_records_as_served_by_json_type(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`!=` took an ``active`` of 1 for the mirror's true (and 1.0 for 1): the mirror and
    the API differed, and verify said they were equal. What the API served is compared
    as it came, not as the SDK's models read it (1 as true): a record stored as it was
    served is equal, whatever its types."""
    loa = {"id": 8, "npn": "15645555", "active": 1, "licenseId": 7}
    license = {"id": 7, "npn": "15645555", "state": "CO", "active": 1, "licenseLoas": [loa]}
    _api_answering(monkeypatch, _serving_15645555({"licenses": [license], "licenseLoas": [loa]}))
    with mirror.write_transaction(engine) as conn:
        mirror.activate_npns(conn, ["15645555"], dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        mirror.upsert_records(conn, "licenses", [license])
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "verify", "--json")
    assert code == 0, out + err
    stored = {**license, "active": True, "licenseLoas": [{**loa, "active": 1.0}]}
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [stored])
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "verify", "--json")
    differences = {r["resource"]: r["differences"] for r in orjson.loads(out)["resources"]}
    assert code == 1, out + err
    assert differences["licenses"] == ["7: active differ"]
    assert differences["licenseLoas (nested)"] == ["8: active differ"]
    assert differences["licenseLoas"] == ["8: active differ"]


@pytest.mark.parametrize("purge", ["true", "false"])
def test_sync_verify_with_purging_finds_records_of_an_npn_not_subscribed(
    engine: sa.Engine,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    purge: str,
) -> None:
    """It compared the subscribed NPNs only, and found a purged NPN's records written
    back (a page fetched before the purge) equal; kept without purging, they are."""
    record = {"id": 7, "npn": "15645555", "updatedAt": "2026-01-02", "licenseLoas": [{"id": 8}]}
    at = dt.datetime.now(dt.UTC)
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [record])
        mirror.activate_npns(conn, ["15645555"], at)
        mirror.deactivate_npns(conn, ["15645555"], at + dt.timedelta(seconds=1), purge=False)
    monkeypatch.setenv("PRODUCERSYNC_PURGE_DEACTIVATED", purge)
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "verify", "--json")
    differences = {r["resource"]: r["differences"] for r in orjson.loads(out)["resources"]}
    if purge == "false":
        assert code == 0, out + err
        return
    assert code == 1, out + err
    assert differences["licenses"] == [
        "7: in the mirror, of 15645555, not subscribed: to be purged"
    ]
    assert differences["licenseLoas (nested)"] == [
        "8: in the mirror, of 15645555, not subscribed: to be purged"
    ]


_READING = [
    ["sync", "status"],
    ["sync", "changes", "--since", "2026-01-01"],
    ["sync", "verify"],
    ["check", "15645555", "--state", "CO", "--loa", "Life"],
    ["report", "expiring", "--within", "30"],
    ["report", "changes", "--since", "2026-01-01"],
]


def _failed_exit(command: list[str]) -> int:
    """A reading command's exit when it cannot answer: 3 for those whose 1 is an answer
    (check's no, verify's "the mirror differs"), 1 for the others."""
    return 3 if command[0] == "check" or command[:2] == ["sync", "verify"] else 1


@pytest.mark.parametrize("command", _READING, ids=lambda c: " ".join(c[:2]))
def test_a_command_that_only_reads_refuses_a_mirror_that_is_not_there(
    mirror_file: Path,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    code, err = producersync(monkeypatch, capsys, *command)
    assert code == 2, err
    assert err == (
        f"error: no mirror at {mirror_file}: run `producersync sync run` or "
        "`producersync sync backfill` first\n"
    )
    assert list(mirror_file.parent.iterdir()) == []


@pytest.mark.parametrize("command", _READING, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize(
    "tables", [[], ["CREATE TABLE accounts (id INTEGER)"]], ids=["empty", "other"]
)
def test_a_command_that_only_reads_refuses_a_database_holding_no_mirror(
    mirror_file: Path,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    tables: list[str],
) -> None:
    """An empty file (or database), or another's, was migrated into an empty mirror by
    a command that only reads, whose answers then looked as sure as a real one's."""
    with contextlib.closing(sqlite3.connect(mirror_file)) as conn:
        for table in tables:
            conn.execute(table)
        conn.commit()
    before = mirror_file.read_bytes()
    code, err = producersync(monkeypatch, capsys, *command)
    assert code == 2, err
    assert err == (
        f"error: no mirror at {mirror_file}: run `producersync sync run` or "
        "`producersync sync backfill` first\n"
    )
    assert mirror_file.read_bytes() == before
    assert [path.name for path in mirror_file.parent.iterdir()] == [mirror_file.name]


@pytest.mark.parametrize("command", _READING[:3], ids=lambda c: " ".join(c[:2]))
def test_a_mirror_that_is_not_there_is_named_by_its_variable_under_json(
    mirror_file: Path,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    code, out, _ = producersync_output(monkeypatch, capsys, *command, "--json")
    assert code == 2, out
    error = orjson.loads(out)["error"]
    assert (error["field"], error["value"]) == (
        "PRODUCERSYNC_MIRROR_URL",
        f"sqlite:///{mirror_file}",
    )


def test_the_option_names_the_mirror_a_check_reads(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    args = ["check", "15645555", "--state", "CO", "--loa", "Life", "--mirror"]
    code, err = producersync(monkeypatch, capsys, *args, f"sqlite:///{elsewhere}")
    assert code == 2 and str(elsewhere) in err and not elsewhere.exists()
    code, err = producersync(monkeypatch, capsys, *args, str(engine.url))
    assert code == 4, err  # cannot tell: the NPN is not in this (empty) mirror's population


def test_a_command_that_writes_makes_the_mirror(
    mirror_file: Path,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    since = _yesterday().isoformat()
    code, err = producersync(monkeypatch, capsys, "sync", "now", "--since", since)
    assert code == 0, err
    assert mirror_file.exists()
    code, err = producersync(monkeypatch, capsys, "sync", "status", "--json")
    assert code == 0, err


def test_sync_status_prints_lines_for_people_not_python_reprs(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "status")
    assert code == 0, err
    lines = out.splitlines()
    assert {"lastSyncedRunDate: —", "lastRun: —", "lagDays: —", "counts:"} <= set(lines)
    assert "  licenses: 0" in lines
    assert {"pendingNpns:", "  count: 0", "  npns: —"} <= set(lines), out
    with mirror.write_transaction(engine) as conn:
        run_id = mirror.start_run(conn, "manual")
        mirror.finish_run(conn, run_id, {"licenses": 3}, error="OSError: [Errno 111] refused")
        mirror.set_last_synced_run_date(conn, _yesterday())
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "status")
    assert code == 0, err
    lines = out.splitlines()
    shown = {"lastRun:", "  status: failed", "  since: —", "  counts:", "    licenses: 3"}
    assert shown <= set(lines), out
    assert "  error: OSError: [Errno 111] refused" in lines  # not read as markup
    assert "lagDays: 0" in lines  # current: today's run is not announced
    assert not any(word in out for word in ("None", "{", "'")), out


def test_the_mirror_s_times_are_written_as_the_api_writes_them(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sync status` and `sync changes`, for people and in JSON, wrote Python's +00:00
    where admin's commands (and the API) write a Z."""
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [{"id": 7, "npn": "15645555"}])
        run_id = mirror.start_run(conn, "manual")
        mirror.finish_run(conn, run_id, {"licenses": 1})
        changed_at = mirror.iter_changes(conn, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        at = iso_z(next(iter(changed_at)).changed_at)
    since = ["--since", "2000-01-01"]
    outputs = {
        "status": ["sync", "status"],
        "status-json": ["sync", "status", "--json"],
        "changes": ["sync", "changes", *since],
        "changes-json": ["sync", "changes", *since, "--json"],
    }
    shown = {}
    for name, args in outputs.items():
        code, out, err = producersync_output(monkeypatch, capsys, *args)
        assert code == 0, err
        assert "+00:00" not in out, out
        shown[name] = out
    assert shown["changes"].split()[1] == at
    assert orjson.loads(shown["changes-json"])["changedAt"] == at
    run = orjson.loads(shown["status-json"])["lastRun"]
    assert run["startedAt"].endswith("Z") and run["finishedAt"].endswith("Z"), run
    assert f"  startedAt: {run['startedAt']}" in shown["status"].splitlines()


def test_sync_status_lists_the_malformed_fields_a_line_each(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "status")
    assert code == 0, err
    assert {"malformed:", "  fields: 0", "  latest: —"} <= set(out.splitlines()), out
    lic = {"id": 7, "npn": "1234567", "expirationDate": "[31/12/2026]", "updatedAt": "2026-01-01"}
    with mirror.write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [lic])
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "status")
    assert code == 0, err
    lines = out.splitlines()
    assert "  fields: 1" in lines
    (shown,) = [line for line in lines if line.startswith("    - ")]
    assert shown.startswith(
        "    - resource licenses, id 7, npn 1234567, field expirationDate, value '[31/12/2026]'"
    ), out  # the brackets not read as markup


@pytest.mark.parametrize("command", _READING[:2], ids=lambda c: " ".join(c[:2]))
def test_a_postgresql_mirror_out_of_reach_is_one_line(
    mirror_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """libpq's refusal goes on with a hint on a line of its own ("Is the server
    running..."): the error was two lines, and its JSON message held a newline."""
    # Nothing listens on port 9 (discard) here.
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", "postgresql://ops:hunter2@127.0.0.1:9/mirror")
    error, err = error_both_ways(monkeypatch, capsys, 1, *command)
    message = error["message"]
    mirror_at = "the mirror at postgresql://***@127.0.0.1:9/mirror: connection failed"
    assert message is not None and message.startswith(mirror_at), message
    assert "\n" not in message and "hunter2" not in message
    assert err == f"error: {message}\n"


@pytest.mark.parametrize("command", _READING, ids=lambda c: " ".join(c[:2]))
def test_a_mirror_file_that_is_no_database_is_named_as_the_mirror(
    mirror_file: Path,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """It was "the database: file is not a database", which did not say which database
    (a sync command has two, the mirror and DBOS's) nor where."""
    mirror_file.write_bytes(b"not a database, a page of text")
    error, err = error_both_ways(monkeypatch, capsys, _failed_exit(command), *command)
    assert error["message"] == f"the mirror at {mirror_file}: file is not a database"
    assert err == f"error: {error['message']}\n"
    assert mirror_file.read_bytes() == b"not a database, a page of text"


@pytest.mark.parametrize(
    "command", [["sync", "now", "--since", "2026-01-01"], ["sync", "backfill"], ["sync", "run"]]
)
@pytest.mark.parametrize("kind", ["out-of-reach", "no-database"])
def test_a_command_that_writes_the_mirror_names_it_when_it_cannot_open_it(
    mirror_file: Path,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    kind: str,
) -> None:
    """They said "the database: connection failed: ...", not which: `sync run` has two,
    the mirror and DBOS's system database, which it names (``the DBOS system
    database ...``), and the commands that only read the mirror name theirs. The
    password holds a "/", which SQLAlchemy takes unencoded: it was shown whole."""
    if kind == "out-of-reach":  # a port just free has nothing listening
        port = free_port()
        monkeypatch.setenv(
            "PRODUCERSYNC_MIRROR_URL", f"postgresql://ops:hun/ter2@127.0.0.1:{port}/mirror"
        )
        said = f"error: the mirror at postgresql://***@127.0.0.1:{port}/mirror: connection failed: "
    else:
        mirror_file.write_bytes(b"not a database, a page of text")
        said = f"error: the mirror at {mirror_file}: file is not a database"
    if command[-1] == "run":  # it serves: a process of its own, on a free port
        secret = "whsec_" + base64.b64encode(b"s" * 24).decode()
        monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", secret)
        result = cli(*command, "--port", str(free_port()), check=False)
        code, err = result.returncode, result.stderr
    else:
        code, err = producersync(monkeypatch, capsys, *command)
    assert code == 1, err
    (line,) = err.splitlines()
    assert line.startswith(said), err
    assert "ter2" not in err


@pytest.mark.parametrize("command", _READING[:3], ids=lambda c: " ".join(c[:2]))
def test_a_mirror_url_naming_a_directory_says_so(
    mirror_file: Path,
    api: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """SQLite's "unable to open database file" was told as "the database: unable to
    open database file": neither the file nor that it was a directory."""
    mirror_file.mkdir()
    error, err = error_both_ways(monkeypatch, capsys, 2, *command)
    assert error == {
        "field": "PRODUCERSYNC_MIRROR_URL",
        "value": f"sqlite:///{mirror_file}",
        "message": f"no mirror at {mirror_file}: it is a directory: give the mirror's file",
    }
    assert err == f"error: {error['message']}\n"


def test_sync_status_reads_a_mirror_another_process_is_writing(
    mirror_file: Path,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Opening a mirror took SQLite's write lock to find its schema at head: a command
    that only reads waited behind every writer, and one that held its transaction 30 s
    made `sync status` fail `database is locked`."""
    writer = sqlite3.connect(mirror_file, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        code, out, err = producersync_output(monkeypatch, capsys, "sync", "status", "--json")
    finally:
        writer.close()
    assert code == 0, out + err
    assert orjson.loads(out)["lastRun"] is None
