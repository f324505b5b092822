"""Hooks registered by entry point, called with each committed page's changes."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from producersync.client import Client
from producersync.sync import hooks, mirror
from producersync.sync.mirror.tables import MIRRORED
from producersync.sync.pull import Puller, Stream
from tests.sync.mirror_data import wire

RESOURCE = "entities"
STREAM = Stream(RESOURCE, ())
seen: list[tuple[list[mirror.Change], int]] = []  # each batch, and the rows committed then
_engine: list[sa.Engine] = []


def record_batch(changes: list[mirror.Change]) -> None:
    table = MIRRORED[RESOURCE].table
    with _engine[0].connect() as conn:  # another connection: sees only what is committed
        committed = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    seen.append((changes, committed))


def broken(changes: list[mirror.Change]) -> None:
    raise RuntimeError("the CRM is down")


def _points(*targets: str) -> list[EntryPoint]:
    return [
        EntryPoint(name=target.rsplit(":", 1)[1], value=target, group=hooks.GROUP)
        for target in targets
    ]


def _page(records: Sequence[dict[str, Any]]) -> Any:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/oauth2/token":
            return httpx2.Response(200, json={"access_token": "t", "expires_in": 3600})
        if request.url.path.startswith("/v1/"):  # the pass counts its records first
            return httpx2.Response(200, json={"page": {"totalElements": len(records)}})
        end = {"href": f"/v2/{RESOURCE}?continuationToken=0"}
        return httpx2.Response(
            200, json={"embedded": {RESOURCE: list(records)}, "links": {"self": end, "next": end}}
        )

    return handler


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
    _engine[:] = [engine]
    seen.clear()
    yield engine
    engine.dispose()


def _puller(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, *targets: str
) -> tuple[Puller, list[dict[str, Any]]]:
    monkeypatch.setattr(hooks, "entry_points", lambda group: _points(*targets))
    records = wire().records[RESOURCE][:3]
    client = Client(
        "id", "secret", base_url="http://api", transport=httpx2.MockTransport(_page(records))
    )
    return Puller(client, engine, 1000, after_commit=hooks.Hooks.from_entry_points()), records


def test_a_hook_gets_each_page_s_changes_after_the_commit(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    puller, records = _puller(engine, monkeypatch, f"{__name__}:record_batch")
    puller.page(STREAM, None, None)
    puller.page(STREAM, None, None)  # the same records again: no change, no call
    [(changes, committed)] = seen
    assert committed == len(records)
    assert [c.record_id for c in changes] == [r["id"] for r in records]
    assert {c.action for c in changes} == {"insert"}
    with engine.connect() as conn:
        feed = mirror.changes_since(conn, changes[0].changed_at)
    assert [c.id for c in feed] == [c.id for c in changes]


def test_a_failing_hook_is_logged_and_the_sync_goes_on(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    puller, records = _puller(engine, monkeypatch, f"{__name__}:broken", f"{__name__}:record_batch")
    with caplog.at_level(logging.ERROR, logger=hooks.__name__):
        result = puller.page(STREAM, None, None)
    assert result.upserted == len(records)
    assert len(seen) == 1  # the hook after the broken one still ran
    assert "'broken' failed on a batch of" in caplog.text


def test_a_hook_that_cannot_be_loaded_is_logged_and_skipped(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=hooks.__name__):
        puller, _ = _puller(engine, monkeypatch, f"{__name__}:missing", f"{__name__}:record_batch")
    puller.page(STREAM, None, None)
    assert "'missing'" in caplog.text and "could not be loaded" in caplog.text
    assert len(seen) == 1
