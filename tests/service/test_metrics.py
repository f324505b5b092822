"""``GET /metrics``: each request counted under its route template (never its ids) with
its status, timed, and the store's gauges; the worker process has the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from producersync.service.metrics import OTHER_METHOD, ServiceMetrics
from producersync.service.nipr.daily import run_day
from producersync.service.store.engine import make_engine
from tests.support.databases import store_url, unanswering_postgres_url
from tests.support.metrics import rendered_within, scrape
from tests.support.service import RunningService, running_service

_REQUESTS = "producersync_http_requests_total"


def _count(metrics: dict, method: str, route: str, status: str) -> float:
    labels = frozenset({("method", method), ("route", route), ("status", status)})
    return metrics.get((_REQUESTS, labels), 0.0)


def test_requests_are_counted_by_route_template_and_status(service: RunningService) -> None:
    creds = service.account()
    with service.client(creds) as http:
        assert http.get("/v2/entities/15645555").status_code in (200, 404)
        assert http.get("/v2/licenses?states=ZZ").status_code == 400
        assert http.get("/no/such/path").status_code == 404
        assert http.get("/v2/no-such-list").status_code == 404
    with service.client() as anonymous:
        assert anonymous.get("/v2/licenses").status_code == 401
        assert anonymous.get("/v1/webhooks/endpoints/ep_123").status_code == 401
    metrics = scrape(service.base_url)

    assert _count(metrics, "GET", "/v2/licenses", "400") >= 1
    assert _count(metrics, "GET", "unmatched", "404") >= 2
    # Refused at the gate, before routing: still under the route asked for.
    assert _count(metrics, "GET", "/v2/licenses", "401") >= 1
    assert _count(metrics, "GET", "/v1/webhooks/endpoints/{endpointId}", "401") >= 1
    assert any(
        name == _REQUESTS and ("route", "/v2/entities/{npn}") in labels for name, labels in metrics
    )
    assert not any(
        "15645555" in value or "ep_123" in value for _, labels in metrics for _, value in labels
    )
    assert ("producersync_webhook_deliveries_pending", frozenset()) in metrics
    assert ("producersync_subscription_jobs_queued", frozenset()) in metrics
    assert metrics[("process_start_time_seconds", frozenset())] > 0
    latency = (
        "producersync_http_request_duration_seconds_count",
        frozenset({("route", "/v2/licenses")}),
    )
    assert metrics[latency] >= 1


def test_the_store_gauges_read_nan_while_the_store_is_out_of_reach() -> None:
    metrics = ServiceMetrics()
    # Nothing listens on port 9 (discard) here.
    engine = make_engine("postgresql://postgres@127.0.0.1:9/x")
    metrics.watch(engine)
    try:
        text = metrics.render().decode()
    finally:
        engine.dispose()
    assert "producersync_webhook_deliveries_pending NaN" in text
    assert "producersync_subscription_jobs_queued NaN" in text


def test_routes_outside_the_api_are_named(service: RunningService) -> None:
    with service.client() as http:
        assert http.head("/healthz").status_code == 200
        assert http.get("/portal/").status_code in (200, 303)
        assert http.get("/portal/static/no-such-file.css").status_code == 404
        http.get("/metrics")
    metrics = scrape(service.base_url)

    assert _count(metrics, "HEAD", "/healthz", "200") >= 1
    assert any(name == _REQUESTS and ("route", "/portal/") in labels for name, labels in metrics)
    assert _count(metrics, "GET", "/portal/static/{path}", "404") >= 1
    assert _count(metrics, "GET", "/metrics", "200") >= 1


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[RunningService]:
    with (
        store_url("sqlite", tmp_path) as url,
        running_service(url, api_rate_limit_per_minute=2) as svc,
    ):
        yield svc


def test_the_last_nipr_run_date_is_a_gauge(tmp_path: Path) -> None:
    """Whether the day was run showed in no metric of the service: only in the INFO line
    of the one process that ran it, and in each client's sync metrics."""
    last_run = ("producersync_nipr_last_run_date_timestamp_seconds", frozenset())
    with store_url("sqlite", tmp_path) as url, running_service(url) as svc:
        assert scrape(svc.base_url)[last_run] == 0
        run_day(svc.engine, dt.date(2026, 1, 5))
        run_day(svc.engine, dt.date(2026, 1, 3))  # a day missed, run by hand afterwards
        assert scrape(svc.base_url)[last_run] == dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp()


def test_throttled_requests_are_counted_under_their_route(limited: RunningService) -> None:
    with limited.client(limited.account()) as http:
        statuses = [http.get("/v1/licenses/1").status_code for _ in range(3)]
    assert statuses[-1] == 429
    assert _count(scrape(limited.base_url), "GET", "/v1/licenses/{id}", "429") == 1


def test_a_scrape_answers_while_the_store_takes_connections_and_never_answers() -> None:
    # Each gauge waited for the connect timeout (10 s by default) in turn: the scrape
    # outlasted Prometheus's own timeout and was lost whole, its 503 counts with it.
    metrics = ServiceMetrics()
    with unanswering_postgres_url() as url:
        engine = make_engine(url)
        metrics.watch(engine)
        text = rendered_within(metrics.render, 60)
    engine.dispose()
    assert "producersync_webhook_deliveries_pending NaN" in text
    assert "producersync_subscription_jobs_queued NaN" in text


def test_methods_the_api_has_no_use_for_are_counted_as_other(service: RunningService) -> None:
    # Counted by name, any of the some forty methods the parser takes (WebDAV's, say)
    # made a series per route for an unauthenticated scanner.
    with service.client() as http:
        for method in ("PROPFIND", "MKCOL", "SOURCE"):
            http.request(method, "/v2/entities/15645555")
    metrics = scrape(service.base_url)

    assert _count(metrics, OTHER_METHOD, "/v2/entities/{npn}", "401") >= 3
    methods = {
        v for name, labels in metrics if name == _REQUESTS for k, v in labels if k == "method"
    }
    assert not methods & {"PROPFIND", "MKCOL", "SOURCE"}
