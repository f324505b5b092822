"""The SDK against a real service process injecting faults: 500s, 429s with headers and
dropped connections, plus latency. Every list still comes back whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.client import Client
from producersync.service.nipr.loader import load
from producersync.service.nipr.universe import generate
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities, licenses
from tests.support.databases import store_url
from tests.support.processes import ServiceProcess, cli_json, service_process

# The service's limit, and the client's pace at it: at the default 300 requests a minute
# the test was its pacing, not its faults (the SDK's pacing is test_pacing's).
RATE = "1000000"


@pytest.fixture(scope="module")
def chaotic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, str]]:
    directory = tmp_path_factory.mktemp("chaos")
    with store_url("sqlite", directory) as url:
        engine = open_store(url)
        load(engine, generate(150, seed=11))
        engine.dispose()
        # A fixed seed: the faults fall on the same requests every run.
        with service_process(
            url,
            directory,
            "--chaos-fault-rate",
            "0.25",
            "--chaos-latency-ms",
            "20",
            env={"PRODUCERSYNC_CHAOS_SEED": "7", "PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE": RATE},
        ) as service:
            yield service, url


def test_lists_survive_injected_faults(chaotic: tuple[ServiceProcess, str], tmp_path: Path) -> None:
    service, url = chaotic
    db = ["--database", url]
    cli_json("admin", "account", "create", "chaos-a", "--json", *db)
    creds = cli_json("admin", "client", "create", "--account", "chaos-a", "--json", *db)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        npns = list(conn.execute(sa.select(entities.c.npn).limit(60)).scalars())
        expected = set(
            conn.execute(sa.select(licenses.c.id).where(licenses.c.npn.in_(npns))).scalars()
        )
    engine.dispose()
    with Client(
        str(creds["client_id"]),
        str(creds["client_secret"]),
        base_url=service.base_url,
        max_retries=8,
        rate_limit=int(RATE),
    ) as client:
        job = client.subscriptions.add(npns)
        assert client.subscriptions.wait(job, poll_interval=0.1).details.activated == 60
        got = [r.id for r in client.licenses.list(page_size=9)]
    assert len(got) == len(set(got))
    assert set(got) == expected
    log = service.log.read_text()
    assert "returned without completing response" in log  # connections really were dropped
