"""The test processes forked from a template (tests/support/forked.py) are what an exec
would start: in the environment, the working directory and on the streams each is given,
waiting for its line when started ahead, and reporting its exit code, or a signal that
ended it, as ``subprocess`` does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import forked
from tests.support.processes import cli
from tests.support.service import free_port

_SECRETS = "PRODUCERSYNC_WEBHOOK_SECRETS"


def _sync_run(tmp_path: Path, extra: dict[str, str], **options: object) -> forked.Started:
    """``sync run`` with its mirror and nothing else set: it refuses to start (exit 2),
    naming each setting it misses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODUCERSYNC_")}
    env["PRODUCERSYNC_MIRROR_URL"] = f"sqlite:///{tmp_path / 'mirror.db'}"
    with (tmp_path / "log").open("wb") as out:
        process = forked.start(
            ["sync", "run", "--port", str(free_port())],
            {**env, **extra},
            stdout=out,
            stderr=subprocess.STDOUT,
            **options,  # type: ignore[arg-type]
        )
    assert isinstance(process, forked.Forked) == (os.environ.get(forked.EXEC_VARIABLE) != "1")
    return process


def test_each_start_has_the_environment_it_is_given(tmp_path: Path) -> None:
    missing = []
    for extra in ({}, {_SECRETS: "a secret"}, {}):
        assert _sync_run(tmp_path, extra).wait(timeout=120) == 2
        missing.append(f"{_SECRETS}: not set" in (tmp_path / "log").read_text())
        (tmp_path / "log").unlink()
    assert missing == [True, False, True]


def test_a_start_ahead_waits_for_its_line_and_a_kill_is_its_status(tmp_path: Path) -> None:
    process = _sync_run(tmp_path, {}, stdin=subprocess.PIPE, ahead=True)
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=1)
    process.kill()
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert process.poll() == -signal.SIGKILL
    assert (tmp_path / "log").read_text() == ""


def _forks() -> bool:
    return os.environ.get(forked.EXEC_VARIABLE) != "1"


_MIRROR = {"PRODUCERSYNC_MIRROR_URL": "sqlite:///m.db"}
_LIST = ["admin", "account", "list"]


@pytest.mark.parametrize(
    ("args", "env", "code", "told"),
    [
        # Typer's help, as wide as COLUMNS tells, under the program name of `python -m`.
        (["admin", "--help"], {"COLUMNS": "70"}, 0, "Usage: python -m producersync.cli.main"),
        ([*_LIST, "--bogus"], {}, 2, "No such option: --bogus"),
        # The mirror of the environment given, in the working directory.
        (["sync", "status"], _MIRROR, 2, "no mirror at {}/m.db"),
        # The console's table, as wide as COLUMNS tells as the command prints it.
        ([*_LIST, "--database", "sqlite:///s.db"], {"COLUMNS": "41"}, 0, "acme"),
    ],
    ids=["help", "usage", "environment", "table"],
)
def test_a_command_forked_is_what_its_exec_is(
    args: list[str],
    env: dict[str, str],
    code: int,
    told: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its exit code, stdout and stderr, forked, are its exec's, byte for byte."""
    monkeypatch.chdir(tmp_path)
    if "sqlite:///s.db" in args:
        cli("admin", "account", "create", "acme", "--database", "sqlite:///s.db")
    environment = {**os.environ, **env}
    forks = _forks()
    ran = []
    for exec_run in (False, True):
        if exec_run:
            monkeypatch.setenv(forked.EXEC_VARIABLE, "1")
        process = forked.start(args, environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert isinstance(process, forked.Forked) == (forks and not exec_run)
        out, err = process.communicate(timeout=120)
        ran.append((process.returncode, out.decode(), err.decode()))
    assert ran[0] == ran[1]
    assert ran[0][0] == code, ran[0]
    assert told.format(tmp_path) in ran[0][1] + ran[0][2]


def test_a_command_forked_has_the_streams_and_directory_it_is_given(tmp_path: Path) -> None:
    """Its stdin is the pipe given (no command reads one yet: a prompt would), its stdout
    and stderr are, and it runs in this process's directory; seen as it waits on a
    database server that holds its connection unanswered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"postgresql://x@127.0.0.1:{listener.getsockname()[1]}/x?connect_timeout=300"
        process = forked.start(
            ["admin", "account", "list", "--database", url],
            dict(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert isinstance(process, forked.Forked) == _forks()
        connection, _ = listener.accept()  # the command runs: it waits for the server
        ours = [process.stdin, process.stdout, process.stderr]
        pipes = [f"pipe:[{os.fstat(pipe.fileno()).st_ino}]" for pipe in ours if pipe]
        assert [os.readlink(f"/proc/{process.pid}/fd/{fd}") for fd in range(3)] == pipes
        assert os.readlink(f"/proc/{process.pid}/cwd") == os.getcwd()
        connection.close()
    out, err = process.communicate(timeout=120)
    assert (process.returncode, out) == (1, b"")
    assert b"error: the database: connection failed" in err


def _read(statements: str) -> set[str]:
    """The environment variables a new interpreter reads as it runs ``statements`` (they
    may empty ``read``, the set of those read so far)."""
    probe = (
        "import json, os; read = set(); get = os._Environ.__getitem__;"
        "os._Environ.__getitem__ = lambda env, key: read.add(key) or get(env, key);"
        f"{statements}; print(json.dumps(sorted(read)))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(found))


def test_a_template_serves_only_the_environment_its_imports_read() -> None:
    """What the interpreter and the CLI's imports read as they start is the template's, in
    each child: an environment that differs there is an exec's. The CLI's imports read
    nothing else (its consoles read the terminal's COLUMNS and NO_COLOR as they print)."""
    assert _read("import producersync.cli.main") <= set(forked._READ_AT_START)
    for env, forks in (({}, _forks()), ({"TYPER_USE_RICH": "0"}, False)):
        process = forked.start(["--help"], {**os.environ, **env}, stdout=subprocess.PIPE)
        assert isinstance(process, forked.Forked) == forks
        assert process.communicate(timeout=120)[1] is None
        assert process.returncode == 0


def test_a_sync_template_serves_only_the_certificate_roots_its_tls_context_read(
    tmp_path: Path,
) -> None:
    """The sync's template makes the SDK's TLS context its children share: where the CA
    roots are is the template's in each child, and a start given others is an exec."""
    read = _read(
        "import producersync.sync.app; read.clear();"
        "from producersync.client._ssl import shared_ssl_context; shared_ssl_context()"
    )
    assert "SSL_CERT_FILE" in read
    assert read <= set(forked._READ_AT_START)
    process = _sync_run(tmp_path, {})
    assert process.wait(timeout=120) == 2
    elsewhere = {"SSL_CERT_FILE": str(tmp_path / "roots.pem")}
    with (tmp_path / "log").open("wb") as out:
        process = forked.start(
            ["sync", "run", "--port", str(free_port())],
            {**os.environ, **elsewhere},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    assert not isinstance(process, forked.Forked)
    assert process.wait(timeout=120) == 2
