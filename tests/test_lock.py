"""requirements.lock, which `./run` installs, agrees with pyproject.toml: every pin of the
project and of its `dev` extra is in the lock at the same version, in the order
scripts/lock writes it. A pin bumped in pyproject.toml alone was installed by `./run` at
the lock's old version, with pip's word of the conflict lost in --quiet."""

from __future__ import annotations

import runpy
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
# The script's own functions: it is a file to run, not a module to import.
SCRIPT = runpy.run_path(str(ROOT / "scripts" / "lock"))


def _pins() -> dict[str, str]:
    pins = (line.partition("==") for line in LOCK.read_text().splitlines())
    return {SCRIPT["name"](pin): version for pin, _, version in pins}


def _project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"][SCRIPT["EXTRAS"]]
    return [Requirement(line) for line in [*project["dependencies"], *extra]]


def test_the_lock_pins_what_pyproject_pins_at_the_same_version() -> None:
    pins = _pins()
    differing = {}
    for requirement in _project_requirements():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not installed here, so not in a lock made here
        locked = pins.get(SCRIPT["name"](requirement.name))
        if locked is None or locked not in requirement.specifier:
            differing[str(requirement)] = locked
    assert differing == {}, "pyproject.toml's pins against the lock's: run scripts/lock"


def test_the_lock_is_in_the_order_scripts_lock_writes() -> None:
    lines = LOCK.read_text().splitlines()
    assert lines == sorted(lines, key=SCRIPT["order"])
    assert "producersync" not in _pins()


def test_scripts_lock_is_executable() -> None:
    assert (ROOT / "scripts" / "lock").stat().st_mode & 0o111
