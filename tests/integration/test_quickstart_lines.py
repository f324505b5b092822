"""The lines `producersync quickstart` prints under "Try:", pasted into a shell as a reader
pastes them, from the directory quickstart ran in, while it serves: the curl lines, and
the export that points the SDK's `Client()` at the service (README: "Integrate")."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess, wait_healthy
from tests.support.service import free_port

pytestmark = pytest.mark.slow(8)


# What a reader runs next, in the same shell: the SDK with no argument, as the README's
# example makes it.
_SDK = (
    "from producersync.client import Client; print('sdk:', Client().entities.get('15645555').npn)"
)


def test_the_try_lines_get_a_token_and_the_sandbox_producer(tmp_path: Path) -> None:
    port = free_port()
    args = ["quickstart", "--port", str(port), "--producers", "0"]
    log = tmp_path / "quickstart.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "producersync.cli.main", *args],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(ServiceProcess(process, f"http://127.0.0.1:{port}", log))
        printed = log.read_text()
        lines = printed.split("Try:\n", 1)[1].split("  API reference:", 1)[0]
        script = f"{lines}\n{shlex.quote(sys.executable)} -c {shlex.quote(_SDK)}"
        # Nothing of the test's own environment points the SDK anywhere: only the export.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRODUCERSYNC_")}
        pasted = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert pasted.returncode == 0, pasted.stderr
    assert '"npn":"15645555"' in pasted.stdout, (printed, pasted.stdout, pasted.stderr)
    assert "sdk: 15645555\n" in pasted.stdout, (printed, pasted.stdout, pasted.stderr)
