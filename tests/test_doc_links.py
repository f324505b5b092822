"""Every relative link of README.md and docs/*.md leads somewhere: the file exists and, for
a page, the heading its `#anchor` names is there, as GitHub makes a heading's anchor. A
section renamed or renumbered left its links pointing at nothing, which no reader reports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"```.*?```", re.S)
_HEADING = re.compile(r"^(#{1,6}) (.+?)#*$", re.M)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but hyphens dropped, each
    space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(page: Path) -> Iterator[tuple[int, str, str]]:
    """Each heading of ``page`` outside code: its level, its text and its anchor."""
    found: set[str] = set()
    for marks, heading in _HEADING.findall(_FENCE.sub("", page.read_text())):
        name, n = anchor(heading), 0
        while (f"{name}-{n}" if n else name) in found:  # GitHub numbers repeats
            n += 1
        found.add(slug := f"{name}-{n}" if n else name)
        yield len(marks), heading.strip(), slug


def anchors(page: Path) -> set[str]:
    return {slug for _, _, slug in headings(page)}


def broken(page: Path) -> Iterator[str]:
    for target in _LINK.findall(_FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # another site's
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            yield f"{target}: no such file"
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            yield f"{target}: no such heading"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_leads_somewhere(page: Path) -> None:
    assert list(broken(page)) == []


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## 2. Its section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#2-its-section) [ok](#a-b) [web](https://example.com/x#y)\n"
        "## A, `b`\n"
        "[gone](missing.md) [moved](other.md#3-its-section)\n"
        "```\n[in code](nowhere.md)\n```\n"
    )
    assert list(broken(page)) == [
        "missing.md: no such file",
        "other.md#3-its-section: no such heading",
    ]


# The long pages open with their contents, every section and subsection in order.
CONTENTS_PAGES = [ROOT / "docs" / f"{name}.md" for name in ("service", "integration", "operations")]
_CONTENTS = re.compile(r"^\*\*Contents\*\*\n\n((?:[ -]*- .*\n)+)", re.M)


def contents(page: Path) -> str:
    """The list of a page's `##` and `###` headings, each linked to its anchor."""
    return "".join(
        f"{'  ' * (level - 2)}- [{heading}](#{slug})\n"
        for level, heading, slug in headings(page)
        if level in (2, 3)
    )


@pytest.mark.parametrize("page", CONTENTS_PAGES, ids=lambda p: p.name)
def test_the_contents_list_every_section(page: Path) -> None:
    found = _CONTENTS.search(page.read_text())
    assert found, f"{page.name} has no **Contents** list"
    assert found.group(1) == contents(page)


def test_contents_follow_the_headings(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n## 1. One\n\n### A, `b`\n\n```\n## not\n```\n## Two\n### A, `b`\n")
    assert contents(page) == (
        "- [1. One](#1-one)\n  - [A, `b`](#a-b)\n- [Two](#two)\n  - [A, `b`](#a-b-1)\n"
    )
