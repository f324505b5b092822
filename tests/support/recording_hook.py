"""A sync hook installed into a real sync process by entry point, as a user's would be:
``hook_environment`` writes a distribution's metadata naming ``record`` (each batch it is
called with, one JSON line in a file) and ``broken`` (raises on every batch)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson

from producersync.sync.hooks import GROUP
from producersync.sync.mirror import Change

_LOG = "SYNC_TEST_HOOK_LOG"  # not PRODUCERSYNC_: no setting of the sync's
_HOLD = "SYNC_TEST_HOOK_HOLD"  # while this file is there, ``record``'s calls hold on
_REPO = Path(__file__).resolve().parents[2]


def record(changes: list[Change]) -> None:
    hold = Path(os.environ[_HOLD])
    while hold.exists():
        time.sleep(0.05)
    batch = [[c.id, c.action, c.resource, c.npn] for c in changes]
    with Path(os.environ[_LOG]).open("ab") as log:
        log.write(orjson.dumps(batch) + b"\n")


def broken(changes: list[Change]) -> None:
    raise RuntimeError("the CRM is down")


def hook_environment(directory: Path) -> tuple[dict[str, str], Path]:
    """The environment that installs both hooks into a sync process, and the file
    ``record`` writes. ``record`` holds on while ``directory / "hold"`` exists."""
    info = directory / "hooks" / "acme_hooks-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-hooks\nVersion: 1.0\n")
    points = f"broken = {__name__}:broken\nrecord = {__name__}:record\n"
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{points}")
    log = directory / "hook.log"
    log.touch()
    path = os.pathsep.join([str(info.parent), str(_REPO), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path, _LOG: str(log), _HOLD: str(directory / "hold")}, log


def batches(log: Path) -> list[list[tuple[int, str, str, str | None]]]:
    """What ``record`` was called with, batch by batch."""
    return [
        [(id_, action, resource, npn) for id_, action, resource, npn in orjson.loads(line)]
        for line in log.read_bytes().splitlines()
    ]
