"""What the mirror tests share: wire records fetched from a real (in-thread) service over
a small synthetic universe, and a fresh mirror on either backend."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from producersync.client import Client
from producersync.service.nipr.loader import load
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.nipr.universe import generate
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities
from producersync.sync.mirror import RESOURCES, open_mirror
from producersync.sync.mirror.tables import MIRRORED
from tests.support.databases import migrated_copy
from tests.support.service import running_service

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

PRODUCERS = 150
SEED = 11
# The SDK's attribute for each wire resource.
_ATTRIBUTES = {
    "entities": "entities",
    "licenses": "licenses",
    "licenseLoas": "license_loas",
    "appointments": "appointments",
    "addresses": "addresses",
    "contactInfos": "contact_infos",
    "otherNames": "other_names",
    "regulatoryActions": "regulatory_actions",
}


@dataclass(frozen=True)
class Wire:
    npns: list[str]
    records: dict[str, list[dict[str, Any]]]  # wire resource -> records as the SDK dumps them


@cache
def wire() -> Wire:
    """Every record of a small universe, fetched through the SDK, once per test process."""
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'store.db'}"
        engine = open_store(url)
        load(engine, generate(PRODUCERS, seed=SEED))
        engine.dispose()
        with running_service(
            url, api_rate_limit_per_minute=1_000_000, token_rate_limit_per_minute=1_000_000
        ) as service:
            with service.engine.connect() as conn:
                query = sa.select(entities.c.npn).where(entities.c.npn.not_in(SANDBOX_NPNS))
                npns = sorted(conn.execute(query).scalars())
            creds = service.account()
            service.subscribe(creds, npns)
            with Client(
                creds.client_id, creds.client_secret, base_url=service.base_url, **service.pace()
            ) as client:
                records = {
                    resource: [
                        record.model_dump(mode="json", by_alias=True)
                        for record in getattr(client, _ATTRIBUTES[resource]).list(page_size=1000)
                    ]
                    for resource in RESOURCES
                }
    return Wire(npns, records)


@contextmanager
def fresh_mirror(kind: str, directory: Path) -> Iterator[sa.Engine]:
    """An empty mirror, migrated, on ``kind`` ("sqlite" or "postgres")."""
    with migrated_copy(kind, directory, "mirror", open_mirror) as url:
        engine = open_mirror(url)
        try:
            yield engine
        finally:
            engine.dispose()


def incompressible(length: int, first: int = ord("a")) -> str:
    """``length`` characters from ``first`` on, in no order: longer than a PostgreSQL
    index entry holds (~2,700 bytes) from 3,000 on, which one that repeated itself,
    compressed, would not be."""
    chosen = random.Random(length)
    return "".join(chr(first + chosen.randrange(26)) for _ in range(length))


def stored_rows(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every record table's rows in id order, each but the time it was written: two
    mirrors that stored the same records alike hold the same."""
    with engine.connect() as conn:
        return {
            resource: [
                tuple(row)
                for row in conn.execute(
                    sa.select(*(c for c in m.table.c if c.name != "synced_at")).order_by(
                        m.table.c.id
                    )
                )
            ]
            for resource, m in MIRRORED.items()
        }
