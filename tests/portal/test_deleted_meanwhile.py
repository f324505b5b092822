"""The portal's changes to an endpoint deleted while they run, on PostgreSQL (the other
portal tests run on SQLite, whose writers take turns, so none runs while another
deletes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx2
import pytest
import sqlalchemy as sa

from producersync.model.events import UPDATES_AVAILABLE
from producersync.service.store import outbox
from producersync.service.store.tables import webhook_deliveries, webhook_endpoints
from tests.portal.conftest import SignedIn, sign_in
from tests.support.databases import answered_while_deleted, migrated_store
from tests.support.delivery import log_attempts
from tests.support.service import RunningService, running_service

pytestmark = pytest.mark.postgres

URL = "http://127.0.0.1:9/portal"


@pytest.fixture(scope="module")
def postgres_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    directory = tmp_path_factory.mktemp("portal-pg")
    with migrated_store("postgres", directory) as url, running_service(url) as service:
        yield service


# Recover's since, as its form gives it: the minute, UTC.
_AN_HOUR_AGO = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize(
    ("suffix", "fields"),
    [
        ("/secret/rotate", {}),
        ("/testing", {"type": UPDATES_AVAILABLE}),
        ("/messages/{message}/resend", {}),
        ("/recover", {"since": _AN_HOUR_AGO}),
        ("/edit", {"url": URL, "description": "moved"}),
        ("/rate-limit", {"rate_limit": "5"}),
        ("/enable", {}),
        ("/disable", {}),
        ("/delete", {"confirm": "yes"}),  # a second delete at once
    ],
    ids=[
        "rotate",
        "send-example",
        "resend",
        "recover",
        "edit",
        "rate-limit",
        "enable",
        "disable",
        "delete",
    ],
)
def test_a_change_to_an_endpoint_deleted_meanwhile_is_a_404_not_a_500(
    postgres_portal: RunningService, suffix: str, fields: dict[str, str]
) -> None:
    """Rotate, Send Example and Resend failed the foreign key of the row they added, a
    500 page; Recover found the failed delivery it had read gone when it came to re-arm it
    (the test event's, failed here), and said 'queued: 0'. The changes of the endpoint's
    own row (edit, rate limit, enable, disable, delete) wait for the DELETE and find no
    row."""
    visitor: SignedIn = sign_in(postgres_portal, postgres_portal.account())
    try:
        with postgres_portal.client(visitor.creds) as api:
            endpoint_id = api.post("/v1/webhooks/endpoints", json={"url": URL}).json()["id"]
            message = api.get("/v1/webhooks/messages").json()["data"][0]["id"]
        path = f"/portal/endpoints/{endpoint_id}{suffix.format(message=message)}"
        with postgres_portal.engine.begin() as conn:
            ours = webhook_deliveries.c.endpoint_id == endpoint_id
            conn.execute(webhook_deliveries.update().where(ours).values(state=outbox.FAILED))

        def send() -> httpx2.Response:
            return visitor.form(path, **fields)

        answer = answered_while_deleted(postgres_portal.engine, endpoint_id, send)
    finally:
        visitor.http.close()
    assert answer.status_code == 404, answer.text
    assert "This account has no such endpoint." in answer.text


def test_an_attempts_page_whose_endpoint_is_deleted_as_it_is_read_is_a_404(
    postgres_portal: RunningService,
) -> None:
    """Deleted between the page's reads of the attempt and of its delivery (each sees what
    was committed before it), the delivery was not found, a 500."""
    visitor: SignedIn = sign_in(postgres_portal, postgres_portal.account())
    try:
        with postgres_portal.client(visitor.creds) as api:
            endpoint_id = api.post("/v1/webhooks/endpoints", json={"url": URL}).json()["id"]
        log_attempts(postgres_portal.engine, endpoint_id, [False])
        with postgres_portal.engine.connect() as conn:
            (attempt,) = outbox.list_attempts(conn, endpoint_id=endpoint_id)
        served: sa.Engine = postgres_portal.app.state.context.engine
        deleted: list[str] = []

        def delete_first(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            if "FROM webhook_deliveries" in statement and not deleted:
                deleted.append(statement)
                with postgres_portal.engine.begin() as conn:
                    gone = webhook_endpoints.c.id == endpoint_id
                    conn.execute(webhook_endpoints.delete().where(gone))

        sa.event.listen(served, "before_cursor_execute", delete_first)
        try:
            page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts/{attempt.id}")
        finally:
            sa.event.remove(served, "before_cursor_execute", delete_first)
    finally:
        visitor.http.close()
    assert deleted, "the page read no delivery"
    assert page.status_code == 404, page.text
    assert "This account has no such attempt." in page.text
