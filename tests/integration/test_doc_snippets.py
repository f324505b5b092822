"""The Python snippets of README.md and docs/integration.md, run in order as a reader runs
them: against a real service process on loopback (and a chaotic one over the same store,
as section 7 starts it), with the sandbox client's credentials in the environment, where
the docs say the SDK reads them. The only edits are those the docs tell a reader to make:
the local service's address for 127.0.0.1:8000 and :8001, and for the README, the
service's address in the environment, as the export line it tells of sets it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.webhooks import generate_secret
from tests.support.processes import service_process
from tests.support.snippets import ROOT, snippets
from tests.support.together import entered_together

pytestmark = pytest.mark.slow(25)


@dataclass(frozen=True)
class Local:
    addresses: dict[str, str]  # the docs' address -> the process serving it here
    client_id: str
    client_secret: str


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """The docs' two local addresses, each served by a real process over one store that
    holds a sandbox account (as `producersync quickstart` makes), and its client."""
    directory = tmp_path_factory.mktemp("doc-snippets")
    url = f"sqlite:///{directory / 'producersync.db'}"
    engine = open_store(url)
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "sandbox", sandbox=True)
        client_id, secret = accounts.create_client(
            conn, account, "producersync.read producersync.write"
        )
    engine.dispose()
    chaos = ["--no-delivery", "--chaos-fault-rate", "0.2", "--chaos-latency-ms", "100"]
    # The calm one takes a receiver on loopback, as section 6 says to run it.
    loopback = {"PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true"}
    with ExitStack() as stack:
        calm, wild = entered_together(
            stack,
            [
                service_process(url, directory, env=loopback),
                service_process(url, directory, *chaos),
            ],
        )
        addresses = {"http://127.0.0.1:8000": calm.base_url, "http://127.0.0.1:8001": wild.base_url}
        yield Local(addresses, client_id, secret)


@pytest.fixture
def reader(local: Local, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A reader's session: a working directory of its own, the credentials exported."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", local.client_id)
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", local.client_secret)
    # Section 6's receiver reads its secrets at import, from where it says they are.
    monkeypatch.setenv("WEBHOOK_SECRETS", generate_secret())
    client_logger = logging.getLogger("producersync.client")
    level = client_logger.level
    yield
    client_logger.setLevel(level)  # section 5 turns on the SDK's debug log
    sys.modules.pop("receiver", None)


def _read(page: str, local: Local, edit: dict[str, str] | None = None) -> None:
    """Every snippet of the page, in order, in one namespace (a later snippet may use an
    earlier one's names, as the text says); before one that imports ``receiver``, the
    snippet before it is saved as ``receiver.py``, as the text says to."""
    edits = local.addresses | (edit or {})
    namespace: dict[str, object] = {"__name__": "__main__"}
    found = snippets(page)
    assert found, page
    for before, code in zip(["", *found], found, strict=False):
        for documented, replacement in edits.items():
            code = code.replace(documented, replacement)
        if "from receiver import" in code:
            Path("receiver.py").write_text(before)
        exec(compile(code, page, "exec"), namespace)


def test_the_readme_snippet_runs_against_a_local_service(
    local: Local, reader: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    # The README's own way to the local service, as it words it (the line itself:
    # test_quickstart_lines.py).
    assert "it sets `PRODUCERSYNC_API_URL` to the service and the credentials" in readme
    monkeypatch.setenv("PRODUCERSYNC_API_URL", local.addresses["http://127.0.0.1:8000"])
    _read("README.md", local)
    out = capsys.readouterr()
    assert out.err == ""
    # What its comment says it prints for quickstart's client: the sandbox NPNs' records
    # are fixed, so a filter such as a recent updatedSince would print nothing.
    said = "15645555 15645555 True"
    assert said in snippets("README.md")[0]
    assert f"{said}\n" in out.out, out.out


def test_the_integration_snippets_run_and_print_what_they_say(
    local: Local, reader: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _read("docs/integration.md", local)
    out = capsys.readouterr().out
    for said in (
        "entities lists do not take the 'states' filter",  # section 2
        "9999999999 NPN not found in NIPR",  # section 3
        "{'newField': 2}",  # section 4
        "Invalid value 'ZZ' for parameter 'states'",  # section 5
        "204 400",  # section 6
        "15645555\n",
        "True True\nwaits_until_enabled=False queued=0\n",  # section 6, its API
        "licenses despite the faults",  # section 7
        "['CA']",
        "503 Service Unavailable: down",
    ):
        assert said in out, f"{said!r} not printed:\n{out}"
