"""The SDK as a type-checked codebase meets it: ``mypy --strict``, with no plugin and no
configuration of ours, over a script using each call (``typed_user.py``, whose
``assert_type``s refuse an ``Any``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow(20)


def strict(directory: Path, modules: list[str]) -> str:
    """What ``mypy --strict`` says of ``modules`` in ``directory``, as a user's project
    would run it: its own configuration only (none), our package installed."""
    (directory / "mypy.ini").write_text("[mypy]\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", "mypy.ini", *modules],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


def test_a_strict_codebase_gets_every_call_and_record_typed_with_no_any(tmp_path: Path) -> None:
    script = Path(__file__).with_name("typed_user.py")
    (tmp_path / script.name).write_text(script.read_text())
    said = strict(tmp_path, [script.name])
    assert "Success: no issues found" in said, said
