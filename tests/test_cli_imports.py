"""Every `producersync` command starts by importing the CLI; what only the serving and
replaying commands need stays out of it (it made each admin command take 1.5 s)."""

from __future__ import annotations

import subprocess
import sys

# The apps and the machinery under them, imported by `service run`, `service worker`,
# `sync run`, `sync replay` and `quickstart` in their own bodies.
SERVING = (
    "dbos",
    "fastapi",
    "producersync.service.app",
    "producersync.service.portal.app",
    "producersync.service.worker",
    "producersync.sync.app",
    "producersync.sync.workflows",
)


def test_the_cli_imports_no_app_until_a_command_serves() -> None:
    probe = (
        f"import sys, producersync.cli.main; print([m for m in {SERVING!r} if m in sys.modules])"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"
