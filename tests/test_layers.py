"""The house rules of ARCHITECTURE.md, held by reading every module's imports: the
service and the integration are two companies' systems that meet only over HTTP, so
neither may reach into the other, and the SDK stands on the model alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import producersync

ROOT = Path(producersync.__file__).parent
# Top-level modules with no imports of ours, plumbing every process shares, and the
# package's version.
SHARED = {path.stem for path in ROOT.glob("*.py") if path.stem != "__init__"} | {"__version__"}
# What each package may import of ours, besides itself and the shared modules.
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    # Beyond ARCHITECTURE.md's "nothing": verification hands back the verified body as
    # the model's event envelope, as stripe's construct_event does; model imports nothing.
    "webhooks": {"model"},
    "client": {"model"},
    "sync": {"client", "model", "webhooks"},
    "service": {"model", "webhooks"},
}


def imports_of(source: str) -> set[str]:
    """The top-level parts of ``producersync`` that ``source`` imports, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "producersync":
            names = [f"producersync.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "producersync" and len(parts) > 1:
                found.add(parts[1])
    return found


def imported(path: Path) -> set[str]:
    return imports_of(path.read_text())


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_the_architecture_allows(package: str) -> None:
    allowed = ALLOWED[package] | SHARED | {package}
    breaches = {
        str(path.relative_to(ROOT)): sorted(imported(path) - allowed)
        for path in modules(package)
        if imported(path) - allowed
    }
    assert breaches == {}


def test_the_shared_modules_import_nothing_of_ours() -> None:
    for path in ROOT.glob("*.py"):
        assert imported(path) <= SHARED, path.name


def test_the_reading_sees_every_form_of_import() -> None:
    """A rule broken inside a function body, or by a plain import, counts too."""
    deferred = "def f():\n    from producersync.sync import workflows\n"
    assert imports_of(deferred) == {"sync"}
    assert imports_of("import producersync.client as c\nimport os\n") == {"client"}
    assert imports_of("from . import x\nfrom producersync import model\n") == {"model"}
