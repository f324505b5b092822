"""Fetching every license of a 10,000-NPN population: our SDK against the quick start's way.

    python bench/client_fetch.py [--producers 320000]

Baseline, as the public quick start shows it: sequential ``requests.get`` per page, no
session, the default page size, ``links.next.href`` followed until ``continuationToken=0``.
Ours: ``producersync.client.Client`` (page size 1000, one pooled connection set, the
population it subscribed fetched in concurrent NPN partitions, paced under the rate
limit). Three regimes, each
against a real service process on loopback:

1. no latency injected: records/s of each and the ratio (target >= 1.5x);
2. 100 ms injected per request, the real API's regime (target >= 5x);
3. the service limiting to 300 requests/min with 100 ms injected: our achieved request
   rate as a fraction of 300/min (target >= 0.95) and the 429s we received (target 0).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import httpx2
import requests

from bench._common import (
    console,
    new_client,
    sample_population,
    service_process,
    universe_url,
)
from producersync.client import Client

POPULATION = 10_000


class CountingTransport(httpx2.HTTPTransport):
    """Counts the status codes the SDK receives (token requests included)."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: Counter[int] = Counter()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        self.statuses[response.status_code] += 1
        return response


def quick_start_baseline(base: str, token: str) -> int:
    """The quick start's loop, verbatim in spirit."""
    url = f"{base}/v2/licenses"
    records = 0
    while True:
        body = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
        if "embedded" in body:
            records += len(body["embedded"]["licenses"])
        url = body["links"]["next"]["href"]
        if url.endswith("continuationToken=0"):
            return records


def token_for(base: str, client_id: str, secret: str) -> str:
    return str(
        httpx2.post(
            f"{base}/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        ).json()["access_token"]
    )


def ours(client: Client, npns: list[str], concurrency: int) -> int:
    # An integration knows the population it subscribed: partition it by NPN.
    return sum(1 for _ in client.licenses.list(npns=npns, concurrency=concurrency))


def compare(url: str, npns: list[str], latency_ms: int, target: float) -> None:
    creds = new_client(url, "bench-client")
    with (
        service_process(
            url, "--rate-limit", "1000000", "--chaos-latency-ms", str(latency_ms)
        ) as base,
        Client(creds.client_id, creds.client_secret, base_url=base, rate_limit=1_000_000) as client,
    ):
        client.subscriptions.wait(client.subscriptions.replace(npns), poll_interval=0.2)
        token = token_for(base, creds.client_id, creds.client_secret)
        started = time.perf_counter()
        baseline_records = quick_start_baseline(base, token)
        baseline = baseline_records / (time.perf_counter() - started)
        started = time.perf_counter()
        our_records = ours(client, npns, concurrency=8)
        our_rate = our_records / (time.perf_counter() - started)
    assert our_records == baseline_records, (our_records, baseline_records)
    ratio = our_rate / baseline
    console.print(
        f"  latency {latency_ms:>3} ms: {our_records:,} licenses; quick-start baseline "
        f"{baseline:,.0f} records/s, ours {our_rate:,.0f} records/s => {ratio:.1f}x "
        f"({'meets' if ratio >= target else 'misses'} the {target}x target)"
    )


def paced(url: str, npns: list[str], seconds: float) -> None:
    """Under the service's real 300/min limit: how close do we run to it, and 429s?"""
    creds = new_client(url, "bench-paced")
    transport = CountingTransport()
    with (
        service_process(url, "--rate-limit", "300", "--chaos-latency-ms", "100") as base,
        Client(creds.client_id, creds.client_secret, base_url=base, transport=transport) as client,
    ):
        client.subscriptions.wait(client.subscriptions.replace(npns), poll_interval=1)
        transport.statuses.clear()
        started = time.perf_counter()
        requests_made = 0
        while time.perf_counter() - started < seconds:
            # Small pages so that the run is a long stream of requests, like a big sync.
            for _page in client.licenses.list(npns=npns[:2000], page_size=100).pages():
                requests_made += 1
                if time.perf_counter() - started >= seconds:
                    break
        elapsed = time.perf_counter() - started
    rate = requests_made / elapsed * 60
    throttled = transport.statuses[429]
    console.print(
        f"  limited to 300/min, 100 ms latency, {elapsed:.0f} s: {requests_made} requests = "
        f"{rate:.1f}/min = {rate / 300:.3f} of the limit (target >= 0.95); "
        f"429 responses: {throttled} (target 0)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--producers", type=int, default=320_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--paced-seconds", type=float, default=90)
    args = parser.parse_args()
    url = universe_url("sqlite", args.producers, args.seed)
    npns = sample_population(url, POPULATION, args.seed)
    console.print(f"[bold]client_fetch[/bold]: {POPULATION:,} NPNs of {args.producers:,}")
    compare(url, npns, 0, 1.5)
    compare(url, npns, 100, 5.0)
    paced(url, npns, args.paced_seconds)


if __name__ == "__main__":
    main()
