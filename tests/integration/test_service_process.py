"""The service and its CLI as real processes: what an operator does, end to end. What a
start does after a SIGKILL, or on a DBOS system database not made yet: test_service_starts.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx2
import pytest

from tests.support.processes import cli, cli_json, service_process
from tests.support.service import token_response as _token

pytestmark = pytest.mark.slow(70)


def _entity(base_url: str, token: str) -> httpx2.Response:
    return httpx2.get(
        f"{base_url}/v2/entities/15645555", headers={"authorization": f"Bearer {token}"}
    )


def test_operator_flow_on_a_fresh_store(database: str, tmp_path: Path) -> None:
    db = ["--database", database]
    cli("db", "upgrade", *db)
    account = cli_json("admin", "account", "create", "acme", "--sandbox", "--json", *db)
    assert account["sandbox"] is True
    again = cli("admin", "account", "create", "acme", *db, check=False)
    assert again.returncode == 1 and "exists already" in again.stderr
    client = cli_json("admin", "client", "create", "--account", "acme", "--json", *db)
    client_id, secret = str(client["client_id"]), str(client["client_secret"])
    listed = cli("admin", "client", "list", "--json", *db).stdout
    assert client_id in listed and secret not in listed

    with service_process(database, tmp_path) as service:
        token = _token(service.base_url, client_id, secret).json()["access_token"]
        entity = _entity(service.base_url, token).json()
        assert entity["firstName"] == "Joe" and entity["id"] == 158583

        rotated = cli_json("admin", "client", "rotate-secret", client_id, "--json", *db)
        assert _token(service.base_url, client_id, secret).status_code == 401
        taken = _token(service.base_url, client_id, str(rotated["client_secret"]))
        assert taken.status_code == 200
        # The token taken with the old secret is refused within seconds; the new one is not.
        deadline = time.monotonic() + 15
        while _entity(service.base_url, token).status_code != 401:
            assert time.monotonic() < deadline, "the old secret's token was not refused"
            time.sleep(0.5)
        assert _entity(service.base_url, taken.json()["access_token"]).status_code == 200

        revoked = cli_json("admin", "client", "revoke", client_id, "--json", *db)
        assert revoked["client_id"] == client_id and revoked["revokedAt"]
        again = cli("admin", "client", "revoke", client_id, "--json", *db, check=False)
        assert (
            again.returncode == 1 and "is revoked" in json.loads(again.stdout)["error"]["message"]
        )
        assert _token(service.base_url, client_id, str(rotated["client_secret"])).status_code == 401
    assert secret not in service.log.read_text()
