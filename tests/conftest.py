"""Shared fixtures: a store on each backend with a small NIPR universe, and a running
service over it."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from _pytest.logging import LogCaptureHandler

from producersync.log_format import StderrHandler, log_config
from producersync.service.nipr.loader import load
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.nipr.universe import generate
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities
from tests.support import forked
from tests.support.bytecode import write_bytecode
from tests.support.cli import commands_built_once
from tests.support.databases import drop_databases, migrated_store
from tests.support.secret_scan import SecretScanner
from tests.support.service import RunningService, running_service

# Every service and sync process a test starts inherits these. Four workers run the
# PostgreSQL process tests side by side (the scale-out test alone starts six processes),
# and at the libraries' pool sizes (up to 50 connections a process) the server's 100
# connections ran out: a CLI command failed with "too many clients already". At 4 they
# ran out again (ci4 of session 32: the slowest files, run first, are the PostgreSQL
# process tests, 11-14 connections a process); at 2 a process holds 8-9.
for _setting in ("PRODUCERSYNC_DATABASE_POOL_SIZE", "PRODUCERSYNC_MIRROR_POOL_SIZE"):
    os.environ.setdefault(_setting, "2")

UNIVERSE_PRODUCERS = 400
UNIVERSE_SEED = 7

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def pytest_configure(config: pytest.Config) -> None:
    """With PYTHONDONTWRITEBYTECODE set (it is where the suite's times are taken), every
    worker and every process a test starts compiled what it imported from its sources,
    and pytest rewrote each test module's asserts in every worker: the process that starts
    the workers writes that bytecode once, for them and their children to read
    (``tests/support/bytecode.py``; the installed libraries have theirs)."""
    if sys.dont_write_bytecode and not hasattr(config, "workerinput"):
        write_bytecode(config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The processes of an ``exec`` file start with exec, from its module's fixtures on
    (they are torn down before the next file's first test is set up)."""
    forked.exec_only(item.get_closest_marker("exec") is not None)


def pytest_unconfigure(config: pytest.Config) -> None:
    forked.close_templates()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the slowest files first (``slow(seconds)``: about what the file takes
    on a loaded 2-core machine), then the files with most tests. ``./run`` hands files out
    in this order (``--dist loadfile --no-loadscope-reorder``): ordered by their number of
    tests alone, the few files of minutes came last and ran on side by side at the end."""
    if not hasattr(config, "workerinput"):
        return  # one process: pytest's own order, which sets up each backend once

    def cost(group: list[pytest.Item]) -> tuple[float, int]:
        marks = [mark for item in group for mark in item.iter_markers("slow")]
        return -max((mark.args[0] if mark.args else 60 for mark in marks), default=0), -len(group)

    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    items[:] = [item for group in sorted(files.values(), key=cost) for item in group]


@pytest.fixture(scope="session", autouse=True)
def secret_scanner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretScanner]:
    """No credential in any log line: this process's records as they are logged, and at
    the end of the session every log file under its temporary directory (one per worker
    under xdist). A finding fails the session's last test, at teardown."""
    scanner = SecretScanner()
    with scanner.remembering_created(), scanner.watching_logs():
        yield scanner
    scanner.scan_files(tmp_path_factory.getbasetemp())
    assert not scanner.hits, "credentials in the logs:\n" + "\n".join(scanner.hits[:50])


@pytest.fixture(scope="session", autouse=True)
def cli_built_once() -> Iterator[None]:
    """Each test process builds the CLI's click command once (``commands_built_once``)."""
    with pytest.MonkeyPatch.context() as patch:
        commands_built_once(patch)
        yield


@pytest.fixture(autouse=True)
def loggers_put_back() -> Iterator[None]:
    """The loggers as they were before the test, though a command it ran in this process
    configured them (``log_format.configure_logging``: `sync now`, `sync backfill`, a
    serving command): their handler on the root wrote every later test's lines to that
    test's stderr, and the root's handlers it replaced (the secret scanner's among them)
    and the levels it set (the producersync logger at INFO) were lost to every later test.
    pytest's capture handlers, one set a phase, are pytest's to add and remove."""
    names = [None, *log_config()["loggers"]]
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.propagate, logger.handlers[:], logger.filters[:])
    yield
    for name, (level, propagate, handlers, filters) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = propagate
        logger.filters[:] = filters
        if name is not None:
            logger.handlers[:] = handlers
            continue
        for handler in logger.handlers[:]:
            if isinstance(handler, StderrHandler):
                logger.removeHandler(handler)
        for handler in handlers:
            if not isinstance(handler, LogCaptureHandler):
                logger.addHandler(handler)  # none if it is there


@pytest.fixture(scope="session", autouse=True)
def migrated_templates() -> Iterator[None]:
    """The schemas ``migrated_copy`` copies from, one of each per worker, and the
    databases its tests were done with, removed at the end of its session."""
    yield
    drop_databases()


def _universe_store(kind: str, directory: Path) -> Iterator[str]:
    with migrated_store(kind, directory) as url:
        engine = open_store(url)
        load(engine, generate(UNIVERSE_PRODUCERS, seed=UNIVERSE_SEED))
        engine.dispose()
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def universe_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A store holding the test universe, one per backend, shared by the session."""
    yield from _universe_store(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="session")
def service(universe_url: str) -> Iterator[RunningService]:
    """The service over the test universe; limits high enough not to throttle tests. Its
    API's jobs wake its job worker as they are queued, and no other process queues one
    for it: idle, with a look for jobs every 0.5 s (the default), it took 0.0042 CPU-s a
    second for the rest of its worker's session, two of them a worker; 0.0017 now."""
    with running_service(
        universe_url,
        api_rate_limit_per_minute=1_000_000,
        token_rate_limit_per_minute=1_000_000,
        token_failure_limit_per_minute=1_000_000,
        job_poll_seconds=30,
    ) as svc:
        yield svc


@pytest.fixture(scope="session")
def universe_npns(service: RunningService) -> list[str]:
    """Every generated NPN (sandbox ones excluded), in order."""
    with service.engine.connect() as conn:
        rows = conn.execute(
            sa.select(entities.c.npn)
            .where(entities.c.npn.not_in(SANDBOX_NPNS))
            .order_by(entities.c.npn)
        ).scalars()
        return list(rows)
