"""`producersync admin endpoint ...`: the real CLI on a fresh store."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from producersync.model.events import ENDPOINT_TEST, NPN_ACTIVATED, UPDATES_AVAILABLE
from producersync.service.delivery import management
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import webhook_deliveries, webhook_messages
from tests.support.cli import Producersync, error_both_ways, in_processes, producersync_output
from tests.support.cli import in_process as cli_in_process
from tests.support.databases import answered_while_deleted, migrated_store, store_url
from tests.support.delivery import endpoints_made_in_one_millisecond, log_attempts
from tests.support.processes import cli

pytestmark = pytest.mark.slow(25)

PRIVATE_OK = {"PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true"}


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Producersync:
    """Each command through ``main`` in this process: the round trip is some twenty
    commands, each a second of interpreter start-up on its own."""
    return cli_in_process(monkeypatch, capsys)


@dataclass
class Admin:
    """``producersync admin ...`` on the store ``db`` (its --database option)."""

    run: Producersync
    db: list[str]

    def out(self, *args: str, env: dict[str, str] | None = None) -> str:
        code, out, err = self.run(["admin", *args, *self.db], env or {})
        assert code == 0, f"producersync admin {' '.join(args)} failed:\n{err}"
        return out

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return orjson.loads(self.out(*args, "--json", env=env))

    def endpoint(self, *args: str) -> dict[str, object]:
        value: dict[str, object] = self.json("endpoint", *args)
        return value

    def create(self, *options: str, account: str = "acme") -> dict[str, object]:
        """An endpoint of ``account`` on loopback (allowed by the environment)."""
        args = ["create", "--account", account, "--url", "http://127.0.0.1:9/hook", *options]
        value: dict[str, object] = self.json("endpoint", *args, env=PRIVATE_OK)
        return value

    def fails(self, *args: str, code: int = 2) -> str:
        """What the command said refusing: a usage error (2), or ``code``."""
        exit_code, out, err = self.run(["admin", "endpoint", *args, *self.db], {})
        assert exit_code == code, out
        return err


def test_endpoint_commands_round_trip(tmp_path: Path, in_process: Producersync) -> None:
    admin = Admin(in_process, ["--database", f"sqlite:///{tmp_path / 'store.db'}"])
    account = admin.json("account", "create", "acme")

    refused = admin.fails("create", "--account", "acme", "--url", "http://127.0.0.1:9/x")
    assert refused.startswith("error: --url: ") and "https" in refused
    # The operator is told the setting that allows it; not for a URL it would not allow.
    assert "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS=true allows it" in refused
    ftp = admin.fails("create", "--account", "acme", "--url", "ftp://127.0.0.1:9/x")
    assert "https" in ftp and "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS" not in ftp
    creds = admin.fails("create", "--account", "acme", "--url", "http://u:p@127.0.0.1:9/x")
    assert "credentials" in creds and "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS" not in creds
    created = admin.create(
        "--events",
        "producersync.npn.activated",
        "--events",
        "producersync.npn.deactivated",
        "--description",
        "npn changes",
        "--rate-limit",
        "5",
    )
    endpoint_id = str(created["id"])
    secret = str(created["secret"])
    assert secret.startswith("whsec_")
    assert created["account"] == account["account"] == "acme"
    assert created["eventTypes"] == ["producersync.npn.activated", "producersync.npn.deactivated"]
    assert (created["description"], created["rateLimitPerSecond"]) == ("npn changes", 5)

    listed = admin.out("endpoint", "list", "--account", "acme", "--json")
    assert [e["id"] for e in orjson.loads(listed)] == [endpoint_id]
    assert secret not in listed
    admin.out("account", "create", "globex")
    other = admin.create(account="globex")["id"]
    every = admin.json("endpoint", "list")
    assert [(e["id"], e["account"]) for e in every] == [(other, "globex"), (endpoint_id, "acme")]
    assert admin.endpoint("delete", str(other)) == {"id": other, "deleted": True}

    updated = admin.endpoint("update", endpoint_id, "--all-events", "--no-rate-limit")
    assert (updated["eventTypes"], updated["rateLimitPerSecond"]) == (None, None)
    assert updated["description"] == "npn changes"
    assert "error: --events: " in admin.fails("update", endpoint_id, "--events", "nope")
    assert "not both" in admin.fails("update", endpoint_id, "--rate-limit", "3", "--no-rate-limit")

    disabled = admin.endpoint("disable", endpoint_id, "--reason", "receiver down")
    assert (disabled["enabled"], disabled["disabledReason"]) == (False, "receiver down")
    enabled = admin.endpoint("enable", endpoint_id)
    assert (enabled["enabled"], enabled["disabledReason"]) == (True, None)

    rotated = admin.endpoint("rotate-secret", endpoint_id)
    assert rotated["secret"] != secret
    assert admin.endpoint("show-secret", endpoint_id) == rotated
    assert admin.json("endpoint", "attempts", endpoint_id) == []
    refused = admin.fails("recover", endpoint_id, "--since", "2000-01-01")
    assert "--since: " in refused and "more than 14 days ago" in refused

    assert admin.out("endpoint", "delete", endpoint_id) == f"endpoint {endpoint_id} deleted\n"
    assert "no endpoint" in admin.fails("show-secret", endpoint_id, code=1)
    # --json on every one: its failure too is the JSON error.
    code, out, _ = admin.run(["admin", "endpoint", "delete", endpoint_id, "--json", *admin.db], {})
    assert (code, orjson.loads(out)["error"]["message"]) == (1, f"no endpoint {endpoint_id!r}")
    assert admin.json("endpoint", "list") == []


def test_an_endpoint_created_at_a_url_the_account_has_already_is_made_with_a_warning(
    tmp_path: Path, in_process: Producersync
) -> None:
    """Allowed, as Svix allows it, but a provisioning script run twice made a second
    endpoint silently: every event went out twice, and the receiver, given the first
    one's secret, answered the second's deliveries 401 until it was disabled."""
    admin = Admin(in_process, ["--database", f"sqlite:///{tmp_path / 'store.db'}"])
    admin.out("account", "create", "acme")
    admin.out("account", "create", "globex")

    def create(account: str, url: str) -> tuple[str, str]:
        args = ["admin", "endpoint", "create", "--account", account, "--url", url, "--json"]
        code, out, err = admin.run([*args, *admin.db], PRIVATE_OK)
        assert code == 0, err
        return str(orjson.loads(out)["id"]), " ".join(err.split())

    first, told = create("acme", "http://127.0.0.1:9/hook")
    assert told == ""
    assert create("acme", "http://127.0.0.1:9/other")[1] == ""
    assert create("globex", "http://127.0.0.1:9/hook")[1] == ""
    second, told = create("acme", "http://127.0.0.1:9/hook")
    assert told == (
        f"warning: account acme has 1 other endpoint at this URL ({first}): each event goes "
        "to every one, signed with each one's secret; if this one was not meant, "
        f"`producersync admin endpoint delete {second}`"
    )
    ids = [e["id"] for e in admin.json("endpoint", "list", "--account", "acme")]
    assert first in ids and second in ids


def test_what_an_admin_command_prints_for_people_is_printed_as_it_is(
    tmp_path: Path, in_process: Producersync
) -> None:
    """Printed as Rich markup, a description `[/x]` was a MarkupError traceback after the
    endpoint was made, its secret never shown; `[red]` in a name was swallowed."""
    admin = Admin(in_process, ["--database", f"sqlite:///{tmp_path / 'store.db'}"])
    assert "account: [red]acme\n" in admin.out("account", "create", "[red]acme")
    args = ["--url", "http://127.0.0.1:9/hook", "--description", "[/x] [bold]b"]
    out = admin.out("endpoint", "create", "--account", "[red]acme", *args, env=PRIVATE_OK)
    assert "description: [/x] [bold]b\n" in out
    assert re.search(r"^secret: whsec_\S+$", out, re.M), out
    endpoint_id = re.findall(r"^id: (\S+)$", out, re.M)[0]
    admin.out("endpoint", "disable", endpoint_id, "--reason", "[/x] down")
    assert "[/x]" in admin.out("endpoint", "list")  # its words may wrap, not its tag
    admin.out("client", "create", "--account", "[red]acme")
    assert "[red]acme" in admin.out("account", "list")
    assert "[red]acme" in admin.out("client", "list")


def test_what_an_admin_command_prints_for_people_reads_as_sync_status_does(
    tmp_path: Path, in_process: Producersync, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is a dash, a flag yes or no, a list its items: admin printed Python's
    None, True and ['a', 'b'] where sync status printed a dash. A table's ids are whole on
    a line, never cut: `client list` cut a client_id to 'psc_…', which no command takes,
    then folded it over two lines, as `endpoint list` its ids over three."""
    monkeypatch.setenv("COLUMNS", "80")
    admin = Admin(in_process, ["--database", f"sqlite:///{tmp_path / 'store.db'}"])
    assert "sandbox: yes\n" in admin.out("account", "create", "acme", "--sandbox")
    events = ["--events", NPN_ACTIVATED, "--events", UPDATES_AVAILABLE]
    args = ["--account", "acme", "--url", "http://127.0.0.1:9/hook", *events]
    out = admin.out("endpoint", "create", *args, env=PRIVATE_OK)
    for line in (
        f"eventTypes: {NPN_ACTIVATED}, {UPDATES_AVAILABLE}",
        "enabled: yes",
        "disabledReason: —",
        "rateLimitPerSecond: —",
        "failingSince: —",
    ):
        assert f"\n{line}\n" in out, out
    assert not re.search(r"\b(None|True|False)\b|\[", out), out
    endpoint_id = re.findall(r"^id: (\S+)$", out, re.M)[0]
    assert "enabled: no\n" in admin.out("endpoint", "disable", endpoint_id)
    client_id = admin.json("client", "create", "--account", "acme")["client_id"]
    for listed in (admin.out("client", "list"), admin.out("endpoint", "list")):
        assert not re.search(r"\b(None|True|False)\b|\['|…", listed), listed
    for listed, whole in (
        (admin.out("client", "list"), client_id),
        (admin.out("endpoint", "list"), endpoint_id),
    ):
        assert whole in re.findall(r"^│ (\S+)", listed, re.M), listed


@pytest.mark.postgres
def test_endpoints_made_in_one_millisecond_are_listed_newest_first_as_the_api_lists_them(
    tmp_path: Path, in_process: Producersync
) -> None:
    """They were listed oldest first, the reverse of the API's pages."""
    with store_url("sqlite", tmp_path) as url:
        engine = open_store(url)
        with write_transaction(engine) as conn:
            account_id = accounts.create_account(conn, "acme", sandbox=False).id
        made = endpoints_made_in_one_millisecond(engine, account_id, 4)
        engine.dispose()
        listed = Admin(in_process, ["--database", url]).json(
            "endpoint", "list", "--account", "acme"
        )
    assert [e["id"] for e in listed] == made[::-1]


def test_endpoint_commands_on_postgres(tmp_path: Path) -> None:
    """Real processes, as an operator runs them, each on the store migrated for it."""
    with migrated_store("postgres", tmp_path) as url:
        admin = Admin(in_processes, ["--database", url])
        admin.out("account", "create", "acme")
        created = admin.create()
        endpoint_id = str(created["id"])
        rotated = admin.endpoint("rotate-secret", endpoint_id)
        assert rotated["secret"] != created["secret"]
        assert admin.endpoint("show-secret", endpoint_id) == rotated
        admin.out("endpoint", "delete", endpoint_id)
        assert admin.json("endpoint", "list") == []


# Each command that changes one endpoint or adds rows naming it, its arguments after the
# endpoint's id ("MESSAGE": the id of the endpoint's test event; "RECENT": an hour ago).
# The reads (show-secret's aside) answer as of before the DELETE commits, as a read may.
_ON_ONE_ENDPOINT = {
    "rotate-secret": [],
    "replay": ["MESSAGE"],
    "show-secret": [],
    "recover": ["--since", "RECENT"],
    "update": ["--description", "moved"],
    "enable": [],
    "disable": [],
    "delete": [],  # a second delete at once
}


@pytest.mark.postgres
@pytest.mark.parametrize("command", list(_ON_ONE_ENDPOINT))
def test_an_endpoint_deleted_meanwhile_is_told_in_one_line(tmp_path: Path, command: str) -> None:
    """As the API's 404 (tests/service/test_webhook_api.py): a rotation or a replay failed
    the foreign key of the row it added, a traceback, show-secret printed no secret, and
    recover said 'queued: 0' of the failed delivery it found gone when it came to re-arm it
    (the test event's, failed here)."""
    with migrated_store("postgres", tmp_path) as url:
        admin = Admin(in_processes, ["--database", url])
        admin.out("account", "create", "acme")
        endpoint_id = str(admin.create()["id"])
        engine = open_store(url)
        try:
            with engine.begin() as conn:
                message = conn.execute(sa.select(webhook_messages.c.id)).scalar_one()
                conn.execute(webhook_deliveries.update().values(state=outbox.FAILED))
            recent = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
            given = {"MESSAGE": message, "RECENT": recent}
            args = [command, endpoint_id, *(given.get(a, a) for a in _ON_ONE_ENDPOINT[command])]
            code, out, err = answered_while_deleted(
                engine, endpoint_id, lambda: admin.run(["admin", "endpoint", *args, *admin.db], {})
            )
        finally:
            engine.dispose()
    assert (code, out, err) == (1, "", f"error: no endpoint '{endpoint_id}'\n")


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[tuple[list[str], str]]:
    """A store whose endpoint has two attempts (succeeded, then failed, a second apart)
    of a message of each type, the types an hour apart from noon on 1 June 2026: the
    --database option and the endpoint's id."""
    with store_url("sqlite", tmp_path) as url:
        engine = open_store(url)
        settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
        with write_transaction(engine) as conn:
            account = accounts.create_account(conn, "acme", sandbox=False).id
            endpoint, _ = management.create_endpoint(
                conn, settings, account, "http://127.0.0.1:9/hook"
            )
            for event_type in (UPDATES_AVAILABLE, NPN_ACTIVATED):
                management.send_example(conn, endpoint, event_type)
        noon = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
        for hour, event_type in enumerate((UPDATES_AVAILABLE, NPN_ACTIVATED, ENDPOINT_TEST)):
            start = noon + dt.timedelta(hours=hour)
            log_attempts(engine, endpoint.id, [True, False], event_type=event_type, start=start)
        engine.dispose()
        yield ["--database", url], endpoint.id


def _listed(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logged: tuple[list[str], str],
    *filters: str,
) -> list[str]:
    """``admin endpoint attempts --json`` with ``filters``: each attempt's time of day
    and status code, newest first."""
    db, endpoint = logged
    args = ["admin", "endpoint", "attempts", endpoint, *filters, "--json", *db]
    code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert code == 0, err
    return [f"{a['attemptedAt'][11:19]} {a['statusCode']}" for a in orjson.loads(out)]


def test_attempts_are_filtered_by_event_type(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logged: tuple[list[str], str],
) -> None:
    updates = _listed(monkeypatch, capsys, logged, "--event-type", UPDATES_AVAILABLE)
    assert updates == ["12:00:01 503", "12:00:00 200"]
    # Several: the option once per type, or comma-separated, as the API's parameter.
    repeated = ["--event-type", UPDATES_AVAILABLE, "--event-type", ENDPOINT_TEST]
    both = ["14:00:01 503", "14:00:00 200", *updates]
    assert _listed(monkeypatch, capsys, logged, *repeated) == both
    joined = f"{UPDATES_AVAILABLE},{ENDPOINT_TEST}"
    assert _listed(monkeypatch, capsys, logged, "--event-type", joined) == both
    # The JSON keeps its shape: the API's attempts, as without a filter.
    everything = _listed(monkeypatch, capsys, logged)
    assert len(everything) == 6 and set(updates) < set(everything)


def test_attempts_are_filtered_by_time_until_not_included(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logged: tuple[list[str], str],
) -> None:
    window = ["--since", "2026-06-01T13:00:00Z", "--until", "2026-06-01T14:00:00Z"]
    assert _listed(monkeypatch, capsys, logged, *window) == ["13:00:01 503", "13:00:00 200"]
    # UTC unless an offset is named: 15:00+02:00 is 13:00 UTC, 14:00:01 a naive UTC time.
    offsets = ["--since", "2026-06-01T15:00:01+02:00", "--until", "2026-06-01T14:00:01"]
    assert _listed(monkeypatch, capsys, logged, *offsets) == ["14:00:00 200", "13:00:01 503"]
    # A date alone is its midnight: nothing on 2 June, everything before it.
    assert _listed(monkeypatch, capsys, logged, "--since", "2026-06-02") == []
    assert len(_listed(monkeypatch, capsys, logged, "--until", "2026-06-02")) == 6


def test_attempts_are_filtered_by_outcome(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logged: tuple[list[str], str],
) -> None:
    failed = ["14:00:01 503", "13:00:01 503", "12:00:01 503"]
    assert _listed(monkeypatch, capsys, logged, "--outcome", "failed") == failed
    succeeded = _listed(monkeypatch, capsys, logged, "--outcome", "succeeded")
    assert succeeded == ["14:00:00 200", "13:00:00 200", "12:00:00 200"]
    # Filters combine.
    combined = ["--outcome", "failed", "--event-type", NPN_ACTIVATED, "--until", "2026-06-02"]
    assert _listed(monkeypatch, capsys, logged, *combined) == ["13:00:01 503"]


def test_attempts_page_on_from_the_last_one_listed(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logged: tuple[list[str], str],
) -> None:
    """The command listed only the latest --limit attempts: older ones were out of reach."""
    db, endpoint = logged
    window = ["--since", "2026-06-01T12:00:01Z", "--until", "2026-06-01T14:00:01Z"]
    listed: list[str] = []
    before: list[str] = []
    while True:
        args = ["admin", "endpoint", "attempts", endpoint, "--limit", "2", *window, *before]
        code, out, err = producersync_output(monkeypatch, capsys, *args, "--json", *db)
        assert code == 0, err
        page = orjson.loads(out)
        if not page:
            break
        listed += [f"{a['attemptedAt'][11:19]} {a['statusCode']}" for a in page]
        before = ["--before", str(page[-1]["id"])]
    assert listed == ["14:00:00 200", "13:00:01 503", "13:00:00 200", "12:00:01 503"]
    # From an attempt the endpoint does not have: said, naming the option.
    args = ["admin", "endpoint", "attempts", endpoint, "--before", "999999", *db]
    error, err = error_both_ways(monkeypatch, capsys, 1, *args)
    assert (error["field"], error["value"]) == ("--before", "999999")
    assert f"no attempt 999999 to endpoint {endpoint}" in err


_ATTEMPTS = ["endpoint", "attempts", "ep_1"]
_MESSAGES = ["message", "list", "--account", "acme"]


@pytest.mark.parametrize(
    ("listing", "args", "field", "value", "said"),
    [
        (
            _ATTEMPTS,
            ["--event-type", "producersync.bogus"],
            "--event-type",
            "producersync.bogus",
            "'producersync.bogus' is no event type; known types: producersync.npn.activated",
        ),
        (
            _ATTEMPTS,
            ["--event-type", UPDATES_AVAILABLE, "--event-type", "nope"],
            "--event-type",
            f"{UPDATES_AVAILABLE},nope",
            "'nope' is no event type",
        ),
        (_ATTEMPTS, ["--event-type", ""], "--event-type", "", "an empty event type"),
        (
            _ATTEMPTS,
            ["--since", "yesterday"],
            "--since",
            "yesterday",
            "not an ISO 8601 time of years 1 to 9999",
        ),
        # Not Unix seconds, which pydantic's datetime would read.
        (_ATTEMPTS, ["--until", "1700000000"], "--until", "1700000000", "not an ISO 8601 time"),
        (
            _ATTEMPTS,
            ["--since", "2026-06-02T00:00:00Z", "--until", "2026-06-01T00:00:00+02:00"],
            "--until",
            "2026-06-01T00:00:00+02:00",
            "must be later than --since (2026-06-02T00:00:00Z)",
        ),
        (
            _ATTEMPTS,
            ["--outcome", "maybe"],
            "--outcome",
            "maybe",
            "Input should be 'succeeded' or 'failed'",
        ),
        (_ATTEMPTS, ["--limit", "1000"], "--limit", "1000", "Input should be less than or equal"),
        (_MESSAGES, ["--event-type", "nope"], "--event-type", "nope", "'nope' is no event type"),
        (_MESSAGES, ["--since", "1700000000"], "--since", "1700000000", "not an ISO 8601 time"),
        (
            _MESSAGES,
            ["--since", "2026-06-02", "--until", "2026-06-01"],
            "--until",
            "2026-06-01",
            "must be later than --since (2026-06-02T00:00:00Z)",
        ),
        (_MESSAGES, ["--limit", "251"], "--limit", "251", "Input should be less than or equal"),
        (_MESSAGES, ["--limit", "ten"], "--limit", "ten", "expected a whole number in digits"),
        (_MESSAGES, ["--before", "evt-1"], "--before", "evt-1", "String should match pattern"),
        (_ATTEMPTS, ["--before", "pos_1"], "--before", "pos_1", "not a nextBefore of the"),
    ],
    ids=[
        *("type", "one-of-types", "empty-type", "since", "unix-seconds", "window", "outcome"),
        "limit-past-the-apis-page",
        *("messages-type", "messages-unix-seconds", "messages-window"),
        *("messages-limit", "messages-limit-digits", "messages-before"),
        "attempts-before",
    ],
)
def test_a_bad_list_filter_is_a_usage_error_naming_the_option_and_value(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    listing: list[str],
    args: list[str],
    field: str,
    value: str,
    said: str,
) -> None:
    """`admin endpoint attempts` and `admin message list`, each checked by the API's
    query model for its list."""
    db = ["--database", f"sqlite:///{tmp_path / 'store.db'}"]
    command = ["admin", *listing, *args, *db]
    error, err = error_both_ways(monkeypatch, capsys, 2, *command)
    assert (error["field"], error["value"]) == (field, value)
    assert str(error["message"]).startswith(f"{field}: {said}"), error
    assert err.startswith(f"error: {field}: {said}") and repr(value) in err, err
    # Refused before the store is opened, as the other options are.
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "value",
    ["yesterday", "1700000000", "2026-13-01", "2026-06-01T25:00:00"],
    ids=["words", "unix-seconds", "month", "hour"],
)
def test_recover_refuses_a_since_as_attempts_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """One parsing for both, the API's: recover had a parser of its own, in other words."""
    db = ["--database", f"sqlite:///{tmp_path / 'store.db'}"]
    told = {
        command: error_both_ways(
            monkeypatch, capsys, 2, "admin", "endpoint", command, "ep_1", "--since", value, *db
        )
        for command in ("attempts", "recover")
    }
    assert told["recover"] == told["attempts"]
    error, err = told["recover"]
    assert (error["field"], error["value"]) == ("--since", value)
    assert err.startswith("error: --since: ") and repr(value) in err
    assert list(tmp_path.iterdir()) == []  # refused before the store is opened


def test_recover_takes_a_since_as_attempts_does(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logged: tuple[list[str], str],
) -> None:
    """A date alone (its midnight, UTC) and a time with an offset; the window is the
    rule's, named with the option and the value as typed."""
    db, endpoint = logged
    today = dt.datetime.now(dt.UTC).date()
    for since in (today.isoformat(), f"{today}T00:00:00+02:00"):
        args = ["admin", "endpoint", "recover", endpoint, "--since", since, "--json", *db]
        code, out, err = producersync_output(monkeypatch, capsys, *args)
        assert (code, orjson.loads(out)) == (0, {"queued": 0, "waitsUntilEnabled": False}), err
    old = (today - dt.timedelta(days=15)).isoformat()
    error, _ = error_both_ways(
        monkeypatch, capsys, 2, "admin", "endpoint", "recover", endpoint, "--since", old, *db
    )
    assert (error["field"], error["value"]) == ("--since", old)
    assert "more than 14 days ago" in str(error["message"])


def test_replay_and_recover_to_a_disabled_endpoint_say_it_waits(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logged: tuple[list[str], str],
) -> None:
    """They printed what they queued as if it went now: a field, as the API's, and a line
    for people naming the command that sends it."""
    db, endpoint = logged
    engine = open_store(db[1])
    with engine.connect() as conn:
        message = conn.execute(sa.select(webhook_messages.c.id).limit(1)).scalar_one()
    engine.dispose()
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    commands = (["replay", endpoint, message], ["recover", endpoint, "--since", since])

    def run(*args: str) -> str:
        code, out, err = producersync_output(monkeypatch, capsys, "admin", "endpoint", *args, *db)
        assert code == 0, err
        return out

    run("disable", endpoint)
    for command in commands:
        assert orjson.loads(run(*command, "--json"))["waitsUntilEnabled"] is True
        told = run(*command)
        assert "waitsUntilEnabled: yes" in told
        assert (
            "The endpoint is disabled: this waits until it is enabled again "
            f"(producersync admin endpoint enable {endpoint})."
        ) in " ".join(told.split())
    run("enable", endpoint)
    for command in commands:
        told = run(*command)
        assert "waitsUntilEnabled: no" in told and "disabled" not in told


@pytest.fixture
def published(tmp_path: Path) -> Iterator[tuple[list[str], list[str]]]:
    """A store whose account acme has three messages an hour apart from noon on 1 June
    2026 (its endpoint's test event, then an example of each type), and another account
    one of its own: the --database option and acme's message ids, oldest first."""
    with store_url("sqlite", tmp_path) as url:
        engine = open_store(url)
        settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
        with write_transaction(engine) as conn:
            for name in ("globex", "acme"):
                account = accounts.create_account(conn, name, sandbox=False).id
                endpoint, _ = management.create_endpoint(
                    conn, settings, account, "http://127.0.0.1:9/hook"
                )
            for event_type in (UPDATES_AVAILABLE, NPN_ACTIVATED):
                management.send_example(conn, endpoint, event_type)
            ids = [d.message_id for d in outbox.list_deliveries(conn, endpoint_id=endpoint.id)]
            noon = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
            for hour, message_id in enumerate(ids):
                conn.execute(
                    sa.update(webhook_messages)
                    .where(webhook_messages.c.id == message_id)
                    .values(created_at=noon + dt.timedelta(hours=hour))
                )
        engine.dispose()
        yield ["--database", url], ids


def _messages(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    published: tuple[list[str], list[str]],
    *filters: str,
) -> list[str]:
    """``admin message list --account acme --json`` with ``filters``: each message's
    event type and hour, newest first (the API's shape otherwise, checked once)."""
    db, ids = published
    args = ["admin", "message", "list", "--account", "acme", *filters, "--json", *db]
    code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert code == 0, err
    listed = orjson.loads(out)
    for message in listed:
        assert set(message) == {"id", "eventType", "payload", "createdAt", "deliveries"}
        assert message["id"] in ids and message["payload"]["id"] == message["id"]
        assert [d["state"] for d in message["deliveries"]] == ["pending"]
    return [f"{m['eventType']} {m['createdAt'][11:13]}" for m in listed]


def test_messages_are_listed_newest_first_and_filtered_as_the_api_lists_them(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    published: tuple[list[str], list[str]],
) -> None:
    every = [f"{NPN_ACTIVATED} 14", f"{UPDATES_AVAILABLE} 13", f"{ENDPOINT_TEST} 12"]
    assert _messages(monkeypatch, capsys, published) == every  # not globex's
    both = ["--event-type", f"{NPN_ACTIVATED},{ENDPOINT_TEST}"]
    assert _messages(monkeypatch, capsys, published, *both) == [every[0], every[2]]
    repeated = ["--event-type", NPN_ACTIVATED, "--event-type", ENDPOINT_TEST]
    assert _messages(monkeypatch, capsys, published, *repeated) == [every[0], every[2]]
    window = ["--since", "2026-06-01T13:00:00Z", "--until", "2026-06-01T16:00:00+02:00"]
    assert _messages(monkeypatch, capsys, published, *window) == [every[1]]
    assert _messages(monkeypatch, capsys, published, "--since", "2026-06-02") == []
    # Paged: --limit, then --before the last id listed.
    _, ids = published
    assert _messages(monkeypatch, capsys, published, "--limit", "2") == every[:2]
    assert _messages(monkeypatch, capsys, published, "--before", ids[1]) == every[2:]


def test_messages_are_listed_for_people_with_their_delivery_states(
    published: tuple[list[str], list[str]],
) -> None:
    db, ids = published
    # A terminal wide enough for a row a line (Rich reads the width as it starts).
    out = cli("admin", "message", "list", "--account", "acme", *db, env={"COLUMNS": "300"}).stdout
    rows = [line for line in out.splitlines() if "evt_" in line]
    assert [next(i for i in ids if i in row) for row in rows] == ids[::-1]
    assert all(re.search(r"ep_\w+ pending \(0\)", row) for row in rows), out


def test_a_message_list_of_an_unknown_account_or_before_an_unknown_message_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    published: tuple[list[str], list[str]],
) -> None:
    db, _ = published
    listed = ["admin", "message", "list", "--account"]
    error, _ = error_both_ways(monkeypatch, capsys, 1, *listed, "initech", *db)
    assert "initech" in str(error["message"])
    # globex's message, as a mistyped cursor: not "no more messages".
    _, out, _ = producersync_output(monkeypatch, capsys, *listed, "globex", "--json", *db)
    (theirs,) = orjson.loads(out)
    error, _ = error_both_ways(
        monkeypatch, capsys, 1, *listed, "acme", "--before", theirs["id"], *db
    )
    assert (error["field"], error["value"]) == ("--before", theirs["id"])
    assert error["message"] == f"--before: the account has no message {theirs['id']!r}"
