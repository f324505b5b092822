"""The SDK as a type-checked codebase meets it: ``mypy --strict``, with no plugin and no
configuration of ours, over a script using each call (``typed_user.py``, whose
``assert_type``s refuse an ``Any``) and over the SDK snippets of the README and of
docs/integration.md, each a module of its own as a reader would paste it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.test_filters import FILTERS, VALUES, lists
from tests.support.snippets import snippets

pytestmark = pytest.mark.slow(20)

# Past it, integration.md is about the sync service and its mirror: snippets that use
# names the text defines (an engine, a hook's callee), not the SDK.
_SDK_SECTIONS_END = "## The mirror and compliance queries"


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


def test_the_docs_sdk_snippets_pass_mypy_strict(tmp_path: Path) -> None:
    found = [
        ("readme", snippets("README.md")),
        ("integration", snippets("docs/integration.md", before=_SDK_SECTIONS_END)),
    ]
    modules = []
    for page, codes in found:
        for index, code in enumerate(codes):
            if "from receiver import" in code:  # the text saves the snippet before it so
                (tmp_path / "receiver.py").write_text(codes[index - 1])
            module = f"{page}_{index:02d}.py"
            (tmp_path / module).write_text(code)
            modules.append(module)
    assert len(modules) > 10, modules
    said = strict(tmp_path, modules)
    assert "Success: no issues found" in said, said


def test_a_strict_codebase_is_told_of_a_per_npn_list_the_api_has_not(tmp_path: Path) -> None:
    """``entities.for_npn`` and ``license_loas.for_npn`` type-checked, to raise
    ``TypeError`` once run: the API has no per-NPN route for either."""
    (tmp_path / "misuse.py").write_text(
        "from producersync.client import AsyncClient, Client\n"
        "\n"
        "def read(client: Client, aclient: AsyncClient) -> None:\n"
        "    client.entities.for_npn('15645555')\n"
        "    aclient.license_loas.for_npn('15645555')\n"
        "    client.licenses.for_npn('15645555')\n"
        "    aclient.regulatory_actions.for_npn('15645555')\n"
    )
    said = strict(tmp_path, ["misuse.py"])
    assert 'misuse.py:4: error: "Entities" has no attribute "for_npn"' in said, said
    assert 'misuse.py:5: error: "AsyncLicenseLoas" has no attribute "for_npn"' in said, said
    assert "Found 2 errors" in said, said


_FIRST = {"list": "npns=['1'], ", "list_by_page": "npns=['1'], ", "for_npn": "'1', "}


def _filter_calls() -> tuple[list[str], dict[int, str]]:
    """Calls of every list of every resource, sync and async: one with all the filters it
    takes (and an option), then one per filter it does not take, by line number."""
    lines = ["from producersync.client import AsyncClient, Client", "", ""]
    lines.append("def read(client: Client, aclient: AsyncClient) -> None:")
    wrong: dict[int, str] = {}
    for attr, taken in FILTERS.items():
        for who in ("client", "aclient"):
            for method in lists(attr):
                call = f"{who}.{attr}.{method}({_FIRST[method]}"
                right = ", ".join(f"{name}={VALUES[name]}" for name in sorted(taken))
                lines.append(f"    {call}{right}, deadline=5.0)")
                for name in sorted(set(VALUES) - taken):
                    lines.append(f"    {call}{name}={VALUES[name]})")
                    wrong[len(lines)] = name
    return lines, wrong


def test_a_strict_codebase_is_told_of_a_filter_the_resource_does_not_take(
    tmp_path: Path,
) -> None:
    """``entities.list(states=...)``, ``addresses.list(active=...)`` and every other
    filter a resource's lists do not take, type-checked, raised ``TypeError`` only once
    run; each filter a resource takes is accepted, in ``list``, ``list_by_page`` and
    ``for_npn``, of both clients."""
    lines, wrong = _filter_calls()
    (tmp_path / "filters.py").write_text("\n".join(lines) + "\n")
    said = strict(tmp_path, ["filters.py"])
    errors = [line for line in said.splitlines() if ": error: " in line]
    flagged = {int(line.split(":")[1]): line for line in errors}
    assert set(flagged) == set(wrong), said
    for number, name in wrong.items():
        assert f'Unexpected keyword argument "{name}"' in flagged[number], flagged[number]
