"""The lines `producersync quickstart` prints under "Try:", pasted into a shell as a reader
pastes them, from the directory quickstart ran in, while it serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess, wait_healthy
from tests.support.service import free_port

pytestmark = pytest.mark.slow(8)


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
        pasted = subprocess.run(
            ["bash", "-c", lines], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert pasted.returncode == 0, pasted.stderr
    assert '"npn":"15645555"' in pasted.stdout, (printed, pasted.stdout, pasted.stderr)
