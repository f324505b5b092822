"""The test processes forked from a template (tests/support/forked.py) are what an exec
would start: in the environment each is given, waiting for its line when started ahead,
and reporting a signal that ended it as ``subprocess`` does."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support import forked
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
