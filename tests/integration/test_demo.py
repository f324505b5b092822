"""The README's first command: `producersync demo` on the embedded defaults, as a real
process that starts the service and the sync service itself."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import orjson
import pytest

from producersync.cli.common import Failed
from producersync.cli.demo import emptied
from tests.support.cli import in_process
from tests.support.processes import cli, foreground
from tests.support.service import free_port
from tests.test_cli_variables import MISSPELT, TOLD
from tests.test_doc_commands import refusals

pytestmark = [pytest.mark.slow(70), pytest.mark.exec]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_the_demo_runs_the_whole_system_and_proves_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    service, sync = free_port(), free_port()
    ports = ["--service-port", str(service), "--sync-port", str(sync)]
    # Told of by the demo, once: its service and sync service repeated it in their logs.
    env = {"COLUMNS": "200", MISSPELT: "whsec_x"}
    result = cli("demo", "--dir", str(tmp_path / "demo"), *ports, env=env)
    assert result.stderr.count(TOLD) == 1, result.stderr
    for log in ("service.log", "sync.log"):
        assert MISSPELT not in (tmp_path / "demo" / log).read_text()
    out = result.stdout
    assert "300 NPNs active in the mirror" in out
    assert out.count("mirror synced") == 2  # two daily NIPR cycles
    # The first one's thousands of changes, beside the second one's tens, are explained.
    assert out.count("the first run renews or lapses every license expired since") == 1
    assert "│ producersync.npn.activated     │       300 │       0 │      0 │" in out
    assert "│ producersync.updates_available │         2 │       0 │      0 │" in out
    assert "identical" in out and "differs" not in out
    assert "A compliance check on the mirror" in out and "? yes" in out
    assert f"127.0.0.1:{service}/portal/login/psl_" in out
    # The link names the demo's port, so serving the store again must use it too.
    assert f"serve it again: producersync service run --port {service} --database" in out
    assert not _listening(service) and not _listening(sync)  # both stopped with the demo
    # The commands it prints to go on with are the CLI's, and its check answers as printed.
    printed = re.findall(r"(producersync [^)]+)\)", out)
    assert [line.split()[1] for line in printed] == ["check", "service"]
    assert [refusal for line in printed for refusal in refusals(line)] == []
    # The commands after the demo read what it left, through main in this process: the
    # demo itself is the real processes, and each command's interpreter a second of CPU.
    run = in_process(monkeypatch, capsys)

    def command(args: list[str], env: dict[str, str]) -> str:
        code, out, err = run(args, env)
        assert code == 0, f"producersync {' '.join(args)} exited {code}:\n{err}"
        return out

    checked = command(shlex.split(printed[0])[1:], {})
    assert checked.startswith("yes")
    # The panel dates its answer as the command does.
    as_of = re.search(r"mirror as of NIPR run \S+ \([^)]+\)", out)
    assert as_of and as_of[0] in checked, out
    # The commands run elsewhere read files of their working directory: the demo says how
    # to point them at its store and mirror (a `nipr run` made an empty store of its own).
    exported = re.search(
        r"export (PRODUCERSYNC_DATABASE_URL=\S+) (PRODUCERSYNC_MIRROR_URL=\S+)", out
    )
    assert exported, out
    env = dict(pair.split("=", 1) for pair in exported.groups())
    accounts = orjson.loads(command(["admin", "account", "list", "--json"], env))
    assert "demo-carrier" in [account["account"] for account in accounts]
    status = orjson.loads(command(["sync", "status", "--json"], env))
    assert status["activeNpns"] == 300
    # Its API client's credentials are kept as quickstart keeps its own, for the SDK and
    # `sync verify`, which took an `admin client create`; the secret is never printed, but
    # read from the file as the export runs.
    kept = tmp_path / "demo" / "client.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    creds = orjson.loads(kept.read_bytes())
    assert set(creds) == {"account", "client_id", "client_secret"}
    assert creds["account"] == "demo-carrier"
    assert creds["client_secret"] not in out + result.stderr
    assert f"client {creds['client_id']} (its secret is in {kept}, mode 0600)" in out
    export = re.search(r"^to go on with .*: (export .*)$", out, re.MULTILINE)
    assert export, out
    variables = ["API_URL", "CLIENT_ID", "CLIENT_SECRET"]
    shell = f"{export[1]} && printenv " + " ".join(f"PRODUCERSYNC_{v}" for v in variables)
    printed_env = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True)
    assert printed_env.stdout.split() == [
        f"http://127.0.0.1:{service}",
        creds["client_id"],
        creds["client_secret"],
    ]


def test_the_demo_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("demo", "--dir", str(tmp_path), "--service-port", port, check=False)
    assert result.returncode == 1 and f"port {port} is in use" in result.stderr


def test_the_demo_stopped_by_sigterm_stops_its_services(tmp_path: Path) -> None:
    """`kill` (or a supervisor's SIGTERM) ended the demo alone: its service and sync
    service ran on, holding the ports, and the next demo was refused them."""
    service, sync = free_port(), free_port()
    ports = ["--service-port", str(service), "--sync-port", str(sync)]
    command = foreground("demo", "--dir", str(tmp_path / "demo"), *ports)
    # A group of its own: what the demo leaves behind, if anything, is killed with it.
    demo = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (_listening(service) and _listening(sync)):
            assert demo.poll() is None and time.monotonic() < deadline, demo.returncode
            time.sleep(0.2)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=90) == 128 + signal.SIGTERM, demo.communicate()[1].decode()
        assert not _listening(service) and not _listening(sync)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
        demo.communicate()


def test_the_demo_refuses_a_directory_holding_files_it_did_not_make(tmp_path: Path) -> None:
    """It emptied its --dir whatever it held: `--dir .` deleted the user's files."""
    (tmp_path / "thesis.tex").write_text("four years")
    ports = ["--service-port", str(free_port()), "--sync-port", str(free_port())]
    result = cli("demo", "--dir", str(tmp_path), *ports, check=False)
    assert result.returncode == 2, result.stderr
    assert f"--dir {tmp_path} holds files a demo did not make (thesis.tex)" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.tex"]


@pytest.mark.parametrize(
    "made_before",
    [
        [".producersync-demo", "service.db", "notes.txt", "logs/"],
        ["mirror.db.dbos.sqlite", "sync.log"],
    ],
    ids=["marked", "before-the-mark"],
)
def test_a_directory_a_demo_made_is_emptied(tmp_path: Path, made_before: list[str]) -> None:
    directory = tmp_path / "demo"
    directory.mkdir()
    for name in made_before:
        if name.endswith("/"):
            (directory / name).mkdir()
            (directory / name / "old.log").write_text("x")
        else:
            (directory / name).write_text("x")
    emptied(directory)
    assert [p.name for p in directory.iterdir()] == [".producersync-demo"]


def test_a_new_directory_is_made_with_its_parents_and_a_file_refused(tmp_path: Path) -> None:
    emptied(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b" / ".producersync-demo").is_file()
    (tmp_path / "file").write_text("x")
    with pytest.raises(Failed) as refused:
        emptied(tmp_path / "file")
    assert refused.value.exit_code == 2
    assert (tmp_path / "file").read_text() == "x"
