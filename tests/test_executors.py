"""The executor locks: one process per executor id (``producersync.executors``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync import executors
from producersync.executors import ExecutorWatch
from producersync.service.durable import SERVICE_PROCESSES


def test_a_second_process_under_a_held_executor_id_says_what_its_start_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It said only "give each service process its own (PRODUCERSYNC_EXECUTOR_ID)", read
    as advice: replicas given one id each resumed the others' running workflows at start,
    and every batch in flight had its webhooks sent twice."""
    url = sa.make_url(f"sqlite:///{tmp_path / 'store.db'}")
    first = ExecutorWatch(url, SERVICE_PROCESSES, "worker", 5.0, 30.0)
    second = ExecutorWatch(url, SERVICE_PROCESSES, "worker", 5.0, 30.0)
    try:
        with caplog.at_level(logging.WARNING, logger=executors.__name__):
            first.hold()
            assert caplog.messages == []
            second.hold()
    finally:
        second.stop()
        first.stop()
    assert caplog.messages == [
        "another process holds executor id 'worker': give each service process its own "
        "(--executor-id or PRODUCERSYNC_EXECUTOR_ID). Started under it, this one resumes "
        "the workflows that one is running, which then run twice (a delivery batch's "
        "webhooks sent again, with the same webhook-id)"
    ]
