"""The metrics the docs name are the ones the processes expose: every `producersync_*`
name a page writes (the alert rules of operations.md among them) is a sample of a
service or sync process's ``/metrics``, and every metric of theirs is in operations.md's
tables, where an SRE writing alerts looks them up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from producersync.service.metrics import ServiceMetrics
from producersync.service.store.open import open_store
from producersync.sync.metrics import Metrics
from tests.support.metrics import samples

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_NAME = re.compile(r"(?<![\w-])(producersync_[a-z0-9_]+)")
_TABLE_ROW = re.compile(r"^\| `(producersync_[a-z0-9_]+)", re.M)
# A name of the past, said to be renamed where it appears; the portal's session cookie.
_NOT_METRICS = {"producersync_sync_last_synced_run_date", "producersync_portal"}


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every sample name and metric family of both processes' expositions."""
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('store')}/store.db")
    service = ServiceMetrics()
    service.watch(engine)
    sync = Metrics(lambda: None, hooks_behind=lambda: {"crm": 0})
    try:
        texts = [service.render().decode(), sync.render().decode()]
    finally:
        engine.dispose()
    names = {name for text in texts for name, _ in samples(text)}
    families = {
        line.split()[2] for text in texts for line in text.splitlines() if line.startswith("# TYPE")
    }
    return {n for n in names | families if n.startswith("producersync_")}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_metric_a_page_names_is_exposed(page: Path, exposed: set[str]) -> None:
    named = set(_NAME.findall(page.read_text())) - _NOT_METRICS
    assert named <= exposed, sorted(named - exposed)


def test_every_exposed_metric_is_in_the_operations_tables(exposed: set[str]) -> None:
    documented = set(_TABLE_ROW.findall((ROOT / "docs/operations.md").read_text()))
    families = {n for n in exposed if not n.endswith(("_bucket", "_count", "_sum", "_created"))}
    counters = {n.removesuffix("_total") for n in families if n.endswith("_total")}
    assert families - counters - documented == set()
