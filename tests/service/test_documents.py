"""Stored documents: built with their records, served as built, links rooted per request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from producersync.service.nipr.sandbox import sandbox_rows
from producersync.service.store import documents
from producersync.service.store import tables as t
from producersync.service.store.engine import make_engine
from producersync.service.store.migrate import upgrade
from producersync.service.store.open import open_store
from producersync.service.store.records import RecordFilter, list_after, record_document
from tests.support.databases import store_url
from tests.support.documents import stale_documents

JOE = "15645555"
OTHER = "19855109"  # the sandbox producer with another name
BASE = "https://api.example.com/base"
# A value that looks like a link's start: it must come back untouched.
TRICKY = 'Joe "href":"/v1/x" {"href" : "/y"} \\ end'


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with store_url(request.param, tmp_path) as url:
        engine = open_store(url)
        yield engine
        engine.dispose()


def served(conn: sa.Connection, table: sa.Table, npn: str) -> list[dict[str, object]]:
    rows = list_after(conn, table, npn, RecordFilter(), None, 100)
    text = "[" + ",".join(row.document for row in rows) + "]"
    loaded: list[dict[str, object]] = orjson.loads(documents.root_links(text, BASE))
    return loaded


def test_the_sandbox_is_stored_with_its_documents(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert stale_documents(conn) == {}
        license_ = served(conn, t.licenses, JOE)[0]
    assert license_["links"] == {
        "self": {"href": f"{BASE}/v1/licenses/{license_['id']}"},
        "licenseLoas": {"href": f"{BASE}/v2/licenses/{license_['id']}/licenseLoas"},
        "entity": {"href": f"{BASE}/v2/entities/{JOE}"},
    }
    nested = license_["licenseLoas"]
    assert isinstance(nested, list) and nested
    assert nested[0]["links"]["license"] == {"href": f"{BASE}/v1/licenses/{license_['id']}"}


def test_rooting_links_leaves_values_that_look_like_links_alone(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        record_id = conn.execute(
            sa.select(t.other_names.c.id).where(t.other_names.c.npn == OTHER)
        ).scalar_one()
        conn.execute(
            t.other_names.update().where(t.other_names.c.id == record_id).values(name=TRICKY)
        )
        documents.refresh(conn, t.other_names, [record_id])
        assert stale_documents(conn) == {}
        (name,) = served(conn, t.other_names, OTHER)
    assert name["name"] == TRICKY
    assert name["links"] == {
        "self": {"href": f"{BASE}/v1/otherNames/{record_id}"},
        "entity": {"href": f"{BASE}/v2/entities/{OTHER}"},
    }


def test_a_row_written_without_its_document_is_served_built(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        ids = list(conn.execute(sa.select(t.licenses.c.id).order_by(t.licenses.c.id)).scalars())
        stored = [record_document(conn, t.licenses, i) for i in ids]
        conn.execute(t.licenses.update().values(document=None))
        assert stale_documents(conn) == {"licenses": ids}
        assert [record_document(conn, t.licenses, i) for i in ids] == stored


def test_a_store_of_an_older_schema_gets_its_documents(tmp_path: Path) -> None:
    with store_url("sqlite", tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine, "0004")
        rows = sandbox_rows()
        with engine.begin() as conn:
            for table in t.RECORD_TABLES:
                conn.execute(sa.insert(sa.table(table.name, *_columns(table))), rows[table.name])
        upgrade(engine)
        with engine.connect() as conn:
            assert stale_documents(conn) == {}
        engine.dispose()


def _columns(table: sa.Table) -> list[sa.ColumnClause[object]]:
    return [sa.column(c.name, c.type) for c in t.data_columns(table)]
