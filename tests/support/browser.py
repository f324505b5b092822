"""Headless Chromium for browser tests: Debian's `chromium` package, driven by Playwright
through ``executable_path`` (Playwright's own browser downloads are never used).

Installed on first use when missing (`apt-get`, as root: CI runs on such a machine).
Where that cannot be done the browser tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tests.support.databases import unavailable

__all__ = ["CHROMIUM", "LAUNCH_ARGS", "chromium", "ensure_chromium"]

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_INSTALL = (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"])


def ensure_chromium() -> str | None:
    """None once Chromium is at ``CHROMIUM`` (installed now if need be), else why not."""
    if CHROMIUM.exists():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and apt-get cannot be run as root here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in _INSTALL:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(command)}: {exc}"
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}"
    return None if CHROMIUM.exists() else f"chromium installed, but not at {CHROMIUM}"


@contextmanager
def chromium() -> Iterator[Browser]:
    why = ensure_chromium()
    if why is not None:
        unavailable("Chromium", why)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()
