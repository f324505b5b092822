"""``GET /metrics``: each request counted under its route template (never its ids) with
its status, timed, and the store's gauges; the worker process has the same."""

from __future__ import annotations

from producersync.service.metrics import ServiceMetrics
from producersync.service.store.engine import make_engine
from tests.support.metrics import scrape
from tests.support.service import RunningService


def test_requests_are_counted_by_route_template_and_status(service: RunningService) -> None:
    creds = service.account()
    with service.client(creds) as http:
        assert http.get("/v2/entities/15645555").status_code in (200, 404)
        assert http.get("/v2/licenses?states=ZZ").status_code == 400
        assert http.get("/no/such/path").status_code == 404
    with service.client() as anonymous:
        assert anonymous.get("/v2/licenses").status_code == 401
    metrics = scrape(service.base_url)

    def count(route: str, status: str) -> float:
        labels = frozenset({("method", "GET"), ("route", route), ("status", status)})
        return metrics.get(("producersync_http_requests_total", labels), 0.0)

    assert count("/v2/licenses", "400") >= 1
    assert count("unmatched", "404") >= 1
    assert count("unmatched", "401") >= 1  # refused at the gate, before routing
    assert any(
        name == "producersync_http_requests_total" and ("route", "/v2/entities/{npn}") in labels
        for name, labels in metrics
    )
    assert not any("15645555" in value for _, labels in metrics for _, value in labels)
    assert ("producersync_webhook_deliveries_pending", frozenset()) in metrics
    assert ("producersync_subscription_jobs_queued", frozenset()) in metrics
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
