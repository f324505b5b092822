"""The webhook receiver fuzzed in process on PostgreSQL (``test_receiver_fuzz.py`` on
SQLite): the same generator, a slice of it, enough to meet the mirror's column types."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.databases import migrated_mirror
from tests.support.receiver_fuzz import fuzz_in_process

pytestmark = [pytest.mark.postgres, pytest.mark.slow(45)]

REQUESTS = 2500


def test_no_fuzzed_delivery_is_a_5xx_or_acted_on_unless_validly_signed(tmp_path: Path) -> None:
    with migrated_mirror("postgres", tmp_path) as url:
        fuzz_in_process(url, REQUESTS)
