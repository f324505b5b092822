"""`producersync admin account|client ...`: what scripts read (--json), and people."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from typer.testing import CliRunner

from producersync.cli.main import app
from producersync.model.events import iso_z
from producersync.service.store import accounts
from producersync.service.store.open import open_store
from tests.support.processes import cli


def test_account_and_client_lists_print_camel_case_json(tmp_path: Path) -> None:
    database = ["--database", f"sqlite:///{tmp_path / 'store.db'}"]
    runner = CliRunner()
    for args in (["account", "create", "acme"], ["client", "create", "--account", "acme"]):
        assert runner.invoke(app, ["admin", *args, *database]).exit_code == 0
    listed = runner.invoke(app, ["admin", "account", "list", "--json", *database])
    [account] = orjson.loads(listed.stdout)
    assert list(account) == ["account", "id", "sandbox", "createdAt"]
    listed = runner.invoke(app, ["admin", "client", "list", "--json", *database])
    [client] = orjson.loads(listed.stdout)
    # client_id is the OAuth2 form field's name, as `client create --json` prints it.
    assert list(client) == ["client_id", "account", "scope", "createdAt", "revokedAt"]
    assert (client["account"], client["revokedAt"]) == ("acme", None)
    # Written as the lists for people write them, where orjson's were +00:00.
    with open_store(database[1]).connect() as conn:
        (made,) = accounts.list_accounts(conn)
    assert account["createdAt"] == iso_z(made.created_at)
    assert client["createdAt"].endswith("Z"), client


def test_account_and_client_lists_for_people_name_and_write_times_alike(tmp_path: Path) -> None:
    """`account list` had a created column where `client list` has createdAt, and both
    wrote Python's 2026-12-07 19:57:35.120616+00:00 where the endpoint, message and attempt
    lists write the API's 2026-12-07T19:57:35.120616Z, which their --since takes."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    # A terminal wide enough for a row a line (Rich reads the width as it starts).
    env = {"PRODUCERSYNC_DATABASE_URL": url, "COLUMNS": "200"}
    cli("admin", "account", "create", "acme", env=env)
    made = cli("admin", "client", "create", "--account", "acme", "--json", env=env)
    revoked = cli("admin", "client", "revoke", orjson.loads(made.stdout)["client_id"], env=env)
    with open_store(url).connect() as conn:
        (account,) = accounts.list_accounts(conn)
        (client,) = accounts.list_clients(conn, None)
    assert client.revoked_at is not None
    assert f"revokedAt: {iso_z(client.revoked_at)}" in revoked.stdout
    listed = cli("admin", "account", "list", env=env).stdout
    assert re.search(r"\bcreatedAt\b", listed) and not re.search(r"\bcreated\b", listed), listed
    assert iso_z(account.created_at) in listed
    listed = cli("admin", "client", "list", env=env).stdout
    assert iso_z(client.created_at) in listed and iso_z(client.revoked_at) in listed
