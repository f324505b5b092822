"""The sync service's webhook receiver: acknowledgement latency and saturation.

    python bench/receiver.py [--seconds 30] [--rate 200] [--senders 64]

Against a real ``producersync sync run`` process (SQLite mirror, DBOS; its API URL is
unreachable, which it does not need to start or to acknowledge), signed
``npn.deactivated`` events, each a distinct id, so each is verified, recorded and starts
its workflow:

1. open model: ``--rate`` events/s for ``--seconds``, each sent at its scheduled time
   whatever the answers before it; latency counts from that time, so a stall shows up
   as latency instead of a slower sender (target p99 < 50 ms);
2. saturation: ``--senders`` concurrent senders for ``--seconds``; receipts/s
   (target >= 1,000/s), beside the loopback ceiling in the same run: the same senders
   against ``bench/_receiver.py``, which answers 200 at once.

The senders are ``bench/_posts.py``'s raw keep-alive POSTs on uvloop: on 2 cores an httpx
client's own CPU capped even the do-nothing server near 1,070/s, so it measured itself.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from bench._common import console, percentile, print_table, sync_process
from bench._posts import Posts
from bench.fanout import receiver_process
from producersync.model.events import NpnDeactivated
from producersync.sync import mirror
from producersync.webhooks import generate_secret
from producersync.webhooks import headers as signed_headers

P99_TARGET = 0.050
SATURATION_TARGET = 1000.0
_NPN_BASE = 20_000_000


class Sender:
    """Signed, distinct ``npn.deactivated`` events to one URL."""

    def __init__(self, url: str, secret: str) -> None:
        self._posts, self._secret = Posts(url), secret
        self._sent = 0

    async def send(self) -> None:
        self._sent += 1
        event = NpnDeactivated.create(str(_NPN_BASE + self._sent))
        body = event.to_json()
        sent = signed_headers(event.id, int(time.time()), body, [self._secret])
        sent["content-type"] = "application/json"
        status = await self._posts.post(body, sent)
        if status != 200:
            raise RuntimeError(f"event {event.id}: HTTP {status}")

    async def aclose(self) -> None:
        await self._posts.aclose()


async def fixed_load(url: str, secret: str, rate: float, seconds: float) -> list[float]:
    """Acknowledgement latencies of ``rate`` events/s for ``seconds``, open model."""
    latencies: list[float] = []
    sender = Sender(url, secret)

    async def one(due: float) -> None:
        await sender.send()
        latencies.append(time.perf_counter() - due)

    started = time.perf_counter()
    tasks = []
    for i in range(round(rate * seconds)):
        due = started + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    await sender.aclose()
    return latencies


async def saturate(url: str, secret: str, senders: int, seconds: float) -> float:
    """Acknowledgements/s with ``senders`` always waiting on one."""
    sender = Sender(url, secret)
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await sender.send()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(senders)))
    elapsed = time.perf_counter() - started
    await sender.aclose()
    return done / elapsed


def _accepted(mirror_url: str) -> int:
    engine = mirror.open_mirror(mirror_url)
    with engine.connect() as conn:
        accepted = int(mirror.sync_status(conn)["receipts"]["accepted"])
    engine.dispose()
    return accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--senders", type=int, default=64)
    args = parser.parse_args()
    secret = generate_secret()
    with tempfile.TemporaryDirectory() as directory:
        mirror_url = f"sqlite:///{Path(directory) / 'mirror.db'}"
        env = {
            "PRODUCERSYNC_API_URL": "http://127.0.0.1:9",  # never called by these events
            "PRODUCERSYNC_CLIENT_ID": "bench",
            "PRODUCERSYNC_CLIENT_SECRET": "bench",
            "PRODUCERSYNC_WEBHOOK_SECRETS": secret,
            "PRODUCERSYNC_MIRROR_URL": mirror_url,
        }
        with sync_process(env) as base:
            url = f"{base}/webhooks/psapi"
            latencies = uvloop.run(fixed_load(url, secret, args.rate, args.seconds))
            console.print(f"fixed load: {len(latencies):,} acknowledged")
            before = _accepted(mirror_url)
            ours = uvloop.run(saturate(url, secret, args.senders, args.seconds))
            recorded = _accepted(mirror_url) - before
        with receiver_process() as plain:
            ceiling = uvloop.run(saturate(f"{plain}/ceiling", secret, args.senders, args.seconds))
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print_table(
        f"Webhook receiver (sync run, SQLite mirror), {args.seconds:g} s each",
        ("figure", "ours", "target", "met", "reference"),
        [
            (f"ack latency at {args.rate:g}/s", f"p50 {p50 * 1e3:.1f} ms", "", "", "open model"),
            ("", f"p99 {p99 * 1e3:.1f} ms", "< 50 ms", _met(p99 < P99_TARGET), ""),
            (
                f"receipts/s, {args.senders} senders",
                f"{ours:,.0f} ({recorded:,} recorded)",
                ">= 1,000",
                _met(ours >= SATURATION_TARGET),
                f"loopback ceiling {ceiling:,.0f}/s (ratio {ours / ceiling:.2f})",
            ),
        ],
    )


def _met(ok: bool) -> str:
    return "[green]yes[/green]" if ok else "[red]no[/red]"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
