"""`producersync` in the test's own process, through ``main`` as the console script runs
it: what tells a wrong setting, a database or the API failing as one line."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx2
import orjson
import pytest
import typer.main
import typer.testing

from producersync.cli.main import main
from producersync.client import Client

__all__ = [
    "Producersync",
    "api_through",
    "commands_built_once",
    "error_both_ways",
    "in_process",
    "in_processes",
    "on_backend",
    "producersync",
    "producersync_output",
    "sync_environment",
]

# ``producersync ARGS`` in the environment given: the exit code, stdout and stderr.
Producersync = Callable[[Sequence[str], dict[str, str]], tuple[int, str, str]]


def commands_built_once(patch: pytest.MonkeyPatch) -> None:
    """Typer's click command of an app built once per app, not on every run: Typer builds
    it afresh for each (55 ms of CPU for ``producersync``'s), once in a console script's
    process but hundreds of times in a test process that runs commands through ``main``
    or ``CliRunner``. A command keeps nothing of a run: click makes a context for each."""
    built = functools.cache(typer.main.get_command)
    patch.setattr(typer.main, "get_command", built)
    patch.setattr(typer.testing, "_get_command", built)


def producersync(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """``producersync ARGS``: the exit code and what went to stderr."""
    code, _, err = producersync_output(monkeypatch, capsys, *args)
    return code, err


def producersync_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """``producersync ARGS``: the exit code, what went to stdout and to stderr."""
    monkeypatch.setattr(sys, "argv", ["producersync", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    code = exited.value.code
    captured = capsys.readouterr()
    return code if isinstance(code, int) else 1, captured.out, captured.err


def in_processes(args: Sequence[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Each command a process of its own, as an operator's shell runs it."""
    from tests.support.processes import cli

    result = cli(*args, env=env, check=False)
    return result.returncode, result.stdout, result.stderr


def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Producersync:
    """Each command through ``main`` in this process, as the console script runs it: an
    interpreter's start-up is most of a command's CPU (0.7-1.0 s of an admin command)."""

    def run(args: Sequence[str], env: dict[str, str]) -> tuple[int, str, str]:
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            return producersync_output(patch, capsys, *args)

    return run


def on_backend(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Producersync:
    """Commands for a test that runs on both backends: on SQLite through ``main`` in this
    process, on PostgreSQL as real processes, so that the flow is still run end to end as
    an operator runs it, once, and the other backend spends no interpreter start-ups."""
    return in_processes if url.startswith("postgresql") else in_process(monkeypatch, capsys)


def api_through(monkeypatch: pytest.MonkeyPatch, transport: httpx2.BaseTransport) -> None:
    """The sync's API client (``SyncSettings.client``) sending through ``transport``: the
    SDK's ``Client`` itself, which the settings import only when a command calls the API."""
    monkeypatch.setattr(
        "producersync.client.Client", functools.partial(Client, transport=transport)
    )


def sync_environment(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in ``directory``, with no sync setting from the environment but a mirror URL
    of a file there (not made): the mirror's path."""
    monkeypatch.chdir(directory)
    for name in list(os.environ):
        # The pool sizes stay: conftest keeps every process's within the server's limit.
        if name.startswith("PRODUCERSYNC_") and not name.endswith("_POOL_SIZE"):
            monkeypatch.delenv(name)
    mirror = directory / "mirror.db"
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", f"sqlite:///{mirror}")
    return mirror


def error_both_ways(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], code: int, *args: str
) -> tuple[dict[str, str | None], str]:
    """``producersync ARGS`` failing with ``code``, with ``--json`` and without: the JSON
    error (alone on stdout, nothing on stderr), and the text on stderr (nothing on
    stdout)."""
    exit_code, out, err = producersync_output(monkeypatch, capsys, *args, "--json")
    assert (exit_code, err) == (code, "")
    (line,) = out.splitlines()
    error: dict[str, str | None] = orjson.loads(line)["error"]
    exit_code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert (exit_code, out) == (code, "")
    return error, err
