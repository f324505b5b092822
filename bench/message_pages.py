"""The portal's Messages list, the newest and the oldest message's pages and the API's
message list, each message sent to every one of an account's endpoints: SQL statements
and time per request; and the read of a page of the oldest message's deliveries alone.

    python -m bench.message_pages [--endpoints 1000] [--messages 20] [--repeat 10]
                                  [--backends sqlite,postgres]

The account has ``--endpoints`` endpoints and ``--messages`` messages, each delivered to
all of them (a third failed, a third succeeded, a third pending), and each delivery of the
newest message attempted twice. The service runs in a thread of this process on a fresh
store, analysed; the statements are those its engine runs during the request (its job
poll is put an hour apart, and it delivers nothing, so none of its own fall in between).
Figures are the median of ``--repeat`` requests of each page, the store warm.

Its baseline is an earlier commit's code on the same rows, run just before or after:
``git archive COMMIT src | tar -x -C /tmp/old`` then ``PYTHONPATH=/tmp/old/src`` before
the command above (the pages' statements are the service's, whichever code it runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import sqlalchemy as sa
import uvicorn

from bench._common import console, free_port, fresh_database, print_table
from producersync.model.events import UpdatesAvailable
from producersync.service.app import create_app
from producersync.service.portal.paging import PAGE_SIZE
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store import portal as portal_store
from producersync.service.store.bulk import insert_rows
from producersync.service.store.engine import write_transaction
from producersync.service.store.maintenance import after_bulk_write
from producersync.service.store.open import open_store
from producersync.service.store.tables import webhook_attempts, webhook_deliveries

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STATES = (outbox.FAILED, outbox.SUCCEEDED, outbox.PENDING)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def fill(url: str, endpoint_count: int, message_count: int) -> tuple[int, str, str, list[str]]:
    """The account, its endpoints and messages, as the module's docstring says; the
    account's id, its client's id and secret, and the messages' ids, oldest first."""
    engine = open_store(url)
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "bench", sandbox=False)
        client_id, secret = accounts.create_client(conn, account, "producersync.read")
        for n in range(endpoint_count):
            endpoints.create_endpoint(conn, account.id, f"https://hooks.example.com/{n}")
    ids = []
    for n in range(message_count):
        event = UpdatesAvailable.create(dt.date(2026, 1, 1) + dt.timedelta(days=n))
        with write_transaction(engine) as conn:
            outbox.publish(
                conn,
                [outbox.Message(event.id, account.id, event.type, event.to_json())],
                now=START + dt.timedelta(minutes=n),
            )
        ids.append(event.id)
    d = webhook_deliveries
    with write_transaction(engine) as conn:
        for i, state in enumerate(STATES):
            conn.execute(d.update().where(d.c.id % len(STATES) == i).values(state=state))
        newest = outbox.list_deliveries(conn, message_id=ids[-1])
        insert_rows(
            conn,
            webhook_attempts,
            [
                {
                    "delivery_id": delivery.id,
                    "message_id": delivery.message_id,
                    "endpoint_id": delivery.endpoint_id,
                    "event_type": "producersync.updates_available",
                    "attempt_number": number,
                    "trigger": "scheduled",
                    "attempted_at": START + dt.timedelta(hours=number),
                    "succeeded": number == 2,
                    "status_code": 200 if number == 2 else 500,
                    "duration_ms": 10,
                }
                for delivery in newest
                for number in (1, 2)
            ],
        )
    # The statistics a store in use has (autovacuum's): without them the planner's guesses
    # are not the ones a message's page gets.
    after_bulk_write(engine, [webhook_deliveries, webhook_attempts])
    engine.dispose()
    return account.id, client_id, secret, ids


@contextmanager
def serving(url: str) -> Iterator[tuple[str, sa.Engine]]:
    """The service in a thread on ``url``: its base URL and the engine its requests use."""
    port = free_port()
    settings = ServiceSettings(
        database_url=url,
        port=port,
        delivery_enabled=False,
        prune_enabled=False,
        job_poll_seconds=3600,
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app.state.context.engine
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def signed_in(base: str, url: str, account_id: int) -> httpx2.Client:
    """A browser signed in to the account's portal with a login link."""
    engine = open_store(url)
    with write_transaction(engine) as conn:
        token, _ = portal_store.issue_link(conn, account_id, dt.timedelta(days=1))
    engine.dispose()
    browser = httpx2.Client(base_url=base, timeout=60)
    page = browser.get(f"/portal/login/{token}")
    found = _CSRF.search(page.text)
    assert found, page.text
    signed = browser.post(f"/portal/login/{token}", data={"csrf": found.group(1)})
    assert signed.status_code == 303, signed.text
    return browser


def api_client(base: str, client_id: str, secret: str) -> httpx2.Client:
    token = httpx2.post(
        f"{base}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=30,
    )
    assert token.status_code == 200, token.text
    bearer = token.json()["access_token"]
    return httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {bearer}"}, timeout=60)


def measured(
    engine: sa.Engine, client: httpx2.Client, path: str, repeat: int
) -> tuple[int, float, int]:
    """Statements per request, its median time and the body's size."""
    sent: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    client.get(path)  # warm
    times, counts = [], []
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        for _ in range(repeat):
            sent.clear()
            began = time.perf_counter()
            answer = client.get(path)
            times.append(time.perf_counter() - began)
            assert answer.status_code == 200, answer.text
            counts.append(len(sent))
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    return max(counts), statistics.median(times), len(answer.content)


def store_page(url: str, message_id: str, repeat: int) -> float:
    """The median time of the read of a page of the message's deliveries (the portal's
    newest page: one more than a page), alone."""
    engine = open_store(url)
    times = []
    with engine.connect() as conn:
        for _ in range(repeat + 1):  # the first warms
            began = time.perf_counter()
            outbox.message_deliveries(conn, message_id, limit=PAGE_SIZE + 1)
            times.append(time.perf_counter() - began)
    engine.dispose()
    return statistics.median(times[1:])


def run(backend: str, endpoint_count: int, message_count: int, repeat: int) -> list[list[str]]:
    name = f"bench_message_pages_{endpoint_count}_{message_count}"
    with fresh_database(backend, name) as url:
        began = time.perf_counter()
        account_id, client_id, secret, ids = fill(url, endpoint_count, message_count)
        console.print(f"{backend}: filled in {time.perf_counter() - began:.0f} s")
        pages = {
            "portal: Messages": "/portal/messages",
            "portal: a message's page": f"/portal/messages/{ids[-1]}",
            "portal: the oldest message's page": f"/portal/messages/{ids[0]}",
            "API: GET /v1/webhooks/messages": f"/v1/webhooks/messages?limit={message_count}",
        }
        rows = []
        with serving(url) as (base, engine):
            browser = signed_in(base, url, account_id)
            api = api_client(base, client_id, secret)
            for page, path in pages.items():
                client = api if path.startswith("/v1") else browser
                count, median, size = measured(engine, client, path, repeat)
                rows.append(
                    [backend, page, str(count), f"{median * 1e3:.1f} ms", f"{size / 1024:.0f} KiB"]
                )
            browser.close()
            api.close()
        median = store_page(url, ids[0], repeat)
        page = "store: a page of the oldest message's deliveries"
        rows.append([backend, page, "1", f"{median * 1e3:.2f} ms", ""])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        rows += run(backend, args.endpoints, args.messages, args.repeat)
    print_table(
        f"{args.messages} messages, each to {args.endpoints:,} endpoints",
        ["backend", "page", "statements", "median", "body"],
        rows,
    )


if __name__ == "__main__":
    main()
