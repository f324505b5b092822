"""Reading a process's Prometheus ``/metrics`` in tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.support import plain_http

__all__ = ["rendered_within", "samples", "scrape"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str) -> Samples:
    """Every sample at ``base_url/metrics``: (name, labels) -> value."""
    response = plain_http.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def samples(text: str) -> Samples:
    """Every sample of a ``/metrics`` answer: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def rendered_within(render: Callable[[], bytes], seconds: float) -> str:
    """``render()``'s exposition text; the test fails if it is not done in ``seconds`` (a
    hang's bound, far above what it takes: no measure of speed)."""
    done: list[bytes] = []
    thread = threading.Thread(target=lambda: done.append(render()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"no exposition within {seconds} s"
    return done[0].decode()
