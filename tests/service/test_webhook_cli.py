"""`producersync admin endpoint ...`: the real CLI on a fresh store."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.support.databases import store_url
from tests.support.processes import cli, cli_json

PRIVATE_OK = {"PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true"}


def _endpoint(*args: str, db: list[str]) -> dict[str, object]:
    return cli_json("admin", "endpoint", *args, "--json", *db)


def _create(*options: str, db: list[str], account: str = "acme") -> dict[str, object]:
    """An endpoint of ``account`` on loopback (allowed by the environment)."""
    args = ["create", "--account", account, "--url", "http://127.0.0.1:9/hook", *options]
    created = cli("admin", "endpoint", *args, "--json", *db, env=PRIVATE_OK).stdout
    value: dict[str, object] = orjson.loads(created)
    return value


def _fails(*args: str, db: list[str], code: int = 2) -> str:
    """What the command said refusing: a usage error (2), or ``code``."""
    result = cli("admin", "endpoint", *args, *db, check=False)
    assert result.returncode == code, result.stdout
    return result.stderr


def test_endpoint_commands_round_trip(tmp_path: Path) -> None:
    db = ["--database", f"sqlite:///{tmp_path / 'store.db'}"]
    account = cli_json("admin", "account", "create", "acme", "--json", *db)

    refused = _fails("create", "--account", "acme", "--url", "http://127.0.0.1:9/x", db=db)
    assert refused.startswith("error: --url: ") and "https" in refused
    # The operator is told the setting that allows it; not for a URL it would not allow.
    assert "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS=true allows it" in refused
    ftp = _fails("create", "--account", "acme", "--url", "ftp://127.0.0.1:9/x", db=db)
    assert "https" in ftp and "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS" not in ftp
    created = _create(
        "--events",
        "producersync.npn.activated",
        "--events",
        "producersync.npn.deactivated",
        "--description",
        "npn changes",
        "--rate-limit",
        "5",
        db=db,
    )
    endpoint_id = str(created["id"])
    secret = str(created["secret"])
    assert secret.startswith("whsec_")
    assert created["account"] == account["account"] == "acme"
    assert created["eventTypes"] == ["producersync.npn.activated", "producersync.npn.deactivated"]
    assert (created["description"], created["rateLimitPerSecond"]) == ("npn changes", 5)

    listed = cli("admin", "endpoint", "list", "--account", "acme", "--json", *db).stdout
    assert [e["id"] for e in orjson.loads(listed)] == [endpoint_id]
    assert secret not in listed
    cli("admin", "account", "create", "globex", *db)
    other = _create(db=db, account="globex")["id"]
    every = orjson.loads(cli("admin", "endpoint", "list", "--json", *db).stdout)
    assert [(e["id"], e["account"]) for e in every] == [(endpoint_id, "acme"), (other, "globex")]
    cli("admin", "endpoint", "delete", str(other), *db)

    updated = _endpoint("update", endpoint_id, "--all-events", "--no-rate-limit", db=db)
    assert (updated["eventTypes"], updated["rateLimitPerSecond"]) == (None, None)
    assert updated["description"] == "npn changes"
    assert "error: --events: " in _fails("update", endpoint_id, "--events", "nope", db=db)
    assert "not both" in _fails(
        "update", endpoint_id, "--rate-limit", "3", "--no-rate-limit", db=db
    )

    disabled = _endpoint("disable", endpoint_id, "--reason", "receiver down", db=db)
    assert (disabled["enabled"], disabled["disabledReason"]) == (False, "receiver down")
    enabled = _endpoint("enable", endpoint_id, db=db)
    assert (enabled["enabled"], enabled["disabledReason"]) == (True, None)

    rotated = _endpoint("rotate-secret", endpoint_id, db=db)
    assert rotated["secret"] != secret
    assert _endpoint("show-secret", endpoint_id, db=db) == rotated
    attempts = cli("admin", "endpoint", "attempts", endpoint_id, "--json", *db).stdout
    assert orjson.loads(attempts) == []
    refused = _fails("recover", endpoint_id, "--since", "2000-01-01", db=db)
    assert "--since: " in refused and "more than 14 days ago" in refused

    cli("admin", "endpoint", "delete", endpoint_id, *db)
    assert "no endpoint" in _fails("show-secret", endpoint_id, db=db, code=1)
    assert orjson.loads(cli("admin", "endpoint", "list", "--json", *db).stdout) == []


@pytest.mark.postgres
def test_endpoint_commands_on_postgres(tmp_path: Path) -> None:
    with store_url("postgres", tmp_path) as url:
        db = ["--database", url]
        cli("admin", "account", "create", "acme", *db)
        created = _create(db=db)
        endpoint_id = str(created["id"])
        rotated = _endpoint("rotate-secret", endpoint_id, db=db)
        assert rotated["secret"] != created["secret"]
        assert _endpoint("show-secret", endpoint_id, db=db) == rotated
        cli("admin", "endpoint", "delete", endpoint_id, *db)
        assert orjson.loads(cli("admin", "endpoint", "list", "--json", *db).stdout) == []
