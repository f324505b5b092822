"""The service and its CLI as real processes: what an operator does, end to end. What a
start does after a SIGKILL, or on a DBOS system database not made yet: test_service_starts.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx2
import pytest

from producersync.client import BadRequestError, Client, NotFoundError
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from tests.support import plain_http
from tests.support.cli import on_backend
from tests.support.databases import store_url
from tests.support.processes import service_process
from tests.support.service import token_response as _token

pytestmark = pytest.mark.slow(70)


def _entity(base_url: str, token: str) -> httpx2.Response:
    return plain_http.get(
        f"{base_url}/v2/entities/15645555", headers={"authorization": f"Bearer {token}"}
    )


def test_operator_flow_on_a_fresh_store(
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI's commands beside a service process (on PostgreSQL each a process of its
    own; on SQLite through ``main`` in this process: ``on_backend``)."""
    run = on_backend(database, monkeypatch, capsys)

    def command(*args: str, exits: int = 0) -> tuple[str, str]:
        code, out, err = run([*args, "--database", database], {})
        assert code == exits, f"producersync {' '.join(args)} exited {code}:\n{err}"
        return out, err

    def command_json(*args: str) -> dict[str, object]:
        value: dict[str, object] = json.loads(command(*args, "--json")[0])
        return value

    command("db", "upgrade")
    account = command_json("admin", "account", "create", "acme", "--sandbox")
    assert account["sandbox"] is True
    assert "exists already" in command("admin", "account", "create", "acme", exits=1)[1]
    client = command_json("admin", "client", "create", "--account", "acme")
    client_id, secret = str(client["client_id"]), str(client["client_secret"])
    listed = command("admin", "client", "list", "--json")[0]
    assert client_id in listed and secret not in listed

    with service_process(database, tmp_path) as service:
        token = _token(service.base_url, client_id, secret).json()["access_token"]
        entity = _entity(service.base_url, token).json()
        assert entity["firstName"] == "Joe" and entity["id"] == 158583

        rotated = command_json("admin", "client", "rotate-secret", client_id)
        assert _token(service.base_url, client_id, secret).status_code == 401
        taken = _token(service.base_url, client_id, str(rotated["client_secret"]))
        assert taken.status_code == 200
        # The token taken with the old secret is refused within seconds; the new one is not.
        deadline = time.monotonic() + 15
        while _entity(service.base_url, token).status_code != 401:
            assert time.monotonic() < deadline, "the old secret's token was not refused"
            time.sleep(0.5)
        assert _entity(service.base_url, taken.json()["access_token"]).status_code == 200

        revoked = command_json("admin", "client", "revoke", client_id)
        assert revoked["client_id"] == client_id and revoked["revokedAt"]
        again = command("admin", "client", "revoke", client_id, "--json", exits=1)[0]
        assert "is revoked" in json.loads(again)["error"]["message"]
        assert _token(service.base_url, client_id, str(rotated["client_secret"])).status_code == 401
    assert secret not in service.log.read_text()


def test_an_sdk_error_names_a_request_the_service_log_has(tmp_path: Path) -> None:
    """The SDK's errors read the request's id from x-request-id, which the service never
    sent: request_id was None, and a failure reported could not be found in the log."""
    with (
        store_url("sqlite", tmp_path) as url,
        service_process(url, tmp_path, "--access-log") as service,
    ):
        with write_transaction(engine := open_store(url)) as conn:
            account = accounts.create_account(conn, "acme", sandbox=False)
            client_id, secret = accounts.create_client(conn, account, "producersync.read")
        engine.dispose()
        with Client(client_id, secret, base_url=service.base_url) as client:
            with pytest.raises(NotFoundError) as missing:
                client.licenses.get(1)
            with pytest.raises(BadRequestError) as refused:
                list(client.licenses.list(states=["ZZ"]))
    log = service.log.read_text().splitlines()
    for error, request in [
        (missing, "GET /v1/licenses/1 404 "),
        (refused, "GET /v2/licenses 400 "),
    ]:
        request_id = error.value.request_id
        assert request_id is not None and request_id.startswith("req_")
        (line,) = [line for line in log if line.endswith(f" request_id={request_id}")]
        assert f"producersync.service.access: {request}" in line
