"""The webhook receiver's fuzz, as its test files run it: in process against the real app
(``tests/sync/test_receiver_fuzz.py`` on SQLite, ``test_receiver_fuzz_postgres.py``) and
over HTTP against a real ``producersync sync run`` (``test_receiver_fuzz_http.py``). A
file each, so that xdist's loadfile runs them on separate workers. Never a 5xx; never an
event acted on that was not validly signed; every validly signed, readable, fresh event
accepted.

PRODUCERSYNC_FUZZ_SEED sets the seed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from pydantic import SecretStr

from producersync.model.events import ENDPOINT_TEST, Event
from producersync.sync import mirror
from producersync.sync.app import create_app
from producersync.sync.mirror.tables import MIRRORED, events, receipts
from producersync.sync.receiver import is_private_header
from producersync.sync.settings import SyncSettings
from producersync.webhooks import generate_secret
from tests.support.asgi import request
from tests.support.webhook_fuzz import Delivery, DeliveryFuzzer

__all__ = ["LIMIT", "PATH", "SEED", "SHOWN", "Tally", "fuzz_in_process", "mirror_holds_only"]

SEED = int(os.environ.get("PRODUCERSYNC_FUZZ_SEED", "20250724"))
PATH = "/webhooks/psapi"
LIMIT = SyncSettings().max_body_bytes  # the default: the limit a deployment has
SHOWN = 20


@dataclass
class Tally:
    """What the fuzz saw, and every delivery answered against its label."""

    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    acted_on: int = 0
    authorised: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def check(
        self, index: int, delivery: Delivery, status: int, started: list[Event] | None = None
    ) -> None:
        """``started``: what the delivery started (None when that is not observable)."""
        self.statuses[status] += 1
        self.kinds[delivery.kind] += 1
        if delivery.event is not None:
            self.authorised.add(delivery.event.id)
        wrong = []
        if status not in delivery.expect:
            wrong.append(f"answered {status}, expected {sorted(delivery.expect)}")
        if started is not None:
            self.acted_on += len(started)
            if any(event != delivery.event for event in started):
                wrong.append(f"acted on {[e.id for e in started]} (may act on {_id(delivery)})")
            if status == 200 and _has_work(delivery.event) and not started:
                wrong.append("accepted a valid event and started nothing")
        if wrong and len(self.failures) < SHOWN:
            self.failures.append(f"#{index} {delivery.kind}: {'; '.join(wrong)}")
        elif wrong:
            self.failures.append("")  # counted, not shown

    def figure(self, what: str, seconds: float) -> str:
        server_errors = sum(n for s, n in self.statuses.items() if s >= 500)
        total = sum(self.statuses.values())
        return (
            f"receiver fuzz ({what}, seed {SEED}): {total} requests in {seconds:.1f} s,"
            f" {server_errors} 5xx, {self.acted_on} events acted on,"
            f" statuses {dict(sorted(self.statuses.items()))}"
        )


def _id(delivery: Delivery) -> str | None:
    return delivery.event.id if delivery.event else None


def _has_work(event: Event | None) -> bool:
    return event is not None and event.type != ENDPOINT_TEST


def mirror_holds_only(url: str, authorised: set[str], count: int) -> list[str]:
    """What the mirror shows that it should not: an accepted id that was not validly
    signed, a delivery without its receipt, a stored private header, a mirrored record."""
    engine = mirror.open_mirror(url)
    found: list[str] = []
    with engine.connect() as conn:
        accepted = set(conn.execute(sa.select(events.c.event_id)).scalars())
        if accepted - authorised:
            found.append(f"accepted ids never validly signed: {sorted(accepted - authorised)[:5]}")
        recorded = conn.execute(sa.select(sa.func.count()).select_from(receipts)).scalar_one()
        if recorded != count:
            found.append(f"{recorded} receipts for {count} deliveries")
        for headers in conn.execute(sa.select(receipts.c.headers)).scalars():
            if any(is_private_header(name) for name in headers):
                found.append(f"a receipt stored a private header: {sorted(headers)}")
                break
        for resource in MIRRORED.values():
            if conn.execute(sa.select(sa.func.count()).select_from(resource.table)).scalar_one():
                found.append(f"{resource.table.name} has rows")
    engine.dispose()
    return found


def fuzz_in_process(url: str, count: int) -> None:
    """``count`` generated deliveries sent to the receiver's app over the mirror at ``url``,
    each answered and acted on as its label allows, and the mirror left holding only what
    the authentic ones may leave."""
    secret = generate_secret()
    settings = SyncSettings(webhook_secrets=[SecretStr(secret)], mirror_url=url)
    started: list[Event] = []
    app = create_app(settings, start=lambda event, _wid: started.append(event))
    fuzzer = DeliveryFuzzer(secret, seed=SEED, limit=LIMIT)
    tally = Tally()

    async def drive() -> None:
        # One at a time, so that every start is the doing of the delivery just sent.
        for index, delivery in enumerate(fuzzer.deliveries(count)):
            status, _ = await request(app, "POST", PATH, delivery.header_list(), delivery.chunks)
            tally.check(index, delivery, status, started)
            started.clear()

    began = time.monotonic()
    asyncio.run(drive())
    print(tally.figure("in process", time.monotonic() - began))
    assert not tally.failures, f"{len(tally.failures)} wrong answers:\n" + "\n".join(
        tally.failures[:SHOWN]
    )
    assert tally.acted_on > 0 and tally.statuses[401] > 0 and tally.statuses[400] > 0
    assert tally.kinds["at_the_limit"] and tally.kinds["over_the_limit"]
    assert not mirror_holds_only(url, tally.authorised, count)
