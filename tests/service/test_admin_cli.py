"""`producersync admin account|client ... --json`: what scripts read."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from producersync.cli.main import app


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
