"""``counted``: a count and its noun, as every command and page writes one."""

from __future__ import annotations

import pytest

from producersync.counted import counted


@pytest.mark.parametrize(
    ("count", "noun", "said"),
    [
        (1, "delivery", "1 delivery"),
        (2, "delivery", "2 deliveries"),
        (0, "day", "0 days"),
        (1, "day", "1 day"),
        (3, "batch", "3 batches"),
        (1500, "change", "1,500 changes"),
        (2, "NPN", "2 NPNs"),
        (1.0, "second", "1 second"),
        (1.5, "second", "1.5 seconds"),
        (2, "updates_available event", "2 updates_available events"),
    ],
)
def test_a_count_names_its_noun_for_one_or_many(count: float, noun: str, said: str) -> None:
    assert counted(count, noun) == said


def test_an_irregular_plural_is_given() -> None:
    assert (counted(1, "child", "children"), counted(2, "child", "children")) == (
        "1 child",
        "2 children",
    )
