"""The portal's Messages: the account's events, filtered and paged; one message with its
payload and deliveries, sent again or to an endpoint that did not get it."""

from __future__ import annotations

import datetime as dt
import html
import re

import httpx2
import markupsafe
import orjson

from producersync.model.events import ENDPOINT_TEST, UPDATES_AVAILABLE, UpdatesAvailable
from producersync.service.delivery.publish import publish_events
from producersync.service.store import endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import webhook_deliveries, webhook_messages
from tests.portal.conftest import SignedIn, sign_in
from tests.support.delivery import log_attempts
from tests.support.service import RunningService

_URL = "http://127.0.0.1:9/hook"


def _create(visitor: SignedIn, url: str = _URL) -> str:
    """An endpoint made with Add Endpoint (its test message queued to it); its id."""
    made = visitor.form("/portal/endpoints", url=url, events=["producersync"])
    found = re.search(r'href="/portal/endpoints/(ep_[0-9a-f]+)"', made.text)
    assert made.status_code == 200 and found, made.text
    return found.group(1)


def _publish(service: RunningService, account_id: int, days: int) -> list[str]:
    """One updates_available a day for ``days`` days, in one transaction each; their
    ids, oldest first."""
    ids = []
    for n in range(days):
        event = UpdatesAvailable.create(dt.date(2026, 1, 1) + dt.timedelta(days=n))
        with write_transaction(service.engine) as conn:
            publish_events(conn, account_id, [event])
        ids.append(event.id)
    return ids


def _listed(page: httpx2.Response) -> list[str]:
    """The ids of the messages a page lists, top to bottom."""
    return re.findall(r'<a href="/portal/messages/(evt_[0-9a-f]+)">', page.text)


def _link(page: httpx2.Response, label: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)">{label}</a>', page.text)
    return html.unescape(found.group(1)) if found else None


def test_the_accounts_messages_are_listed_newest_first_filtered_and_paged(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """The portal had no list of the account's messages: an event sent while an endpoint
    was disabled, or before it was made, was found through the API alone."""
    empty = visitor.http.get("/portal/messages")
    assert empty.status_code == 200 and "No messages yet." in empty.text
    assert 'href="/portal/messages" aria-current="page">Messages</a>' in empty.text

    _create(visitor)
    published = _publish(portal_service, visitor.creds.account_id, 25)
    newest_first = published[::-1]

    first = visitor.http.get("/portal/messages")
    assert first.status_code == 200, first.text
    assert _listed(first) == newest_first[:20]
    assert "1 pending" in first.text  # each went to the one endpoint, not sent yet
    older = _link(first, "Older")
    assert older is not None
    second = visitor.http.get(older)
    # The five left and the endpoint's test message, the oldest.
    assert _listed(second)[:5] == newest_first[20:] and len(_listed(second)) == 6
    assert _link(second, "Newest") == "/portal/messages"

    typed = visitor.http.get("/portal/messages", params={"type": ENDPOINT_TEST})
    assert len(_listed(typed)) == 1 and _listed(typed)[0] not in published
    assert 'value="webhook.test" checked' in typed.text

    # Created since an hour ago: all; until an hour ago: none, said as such.
    now = dt.datetime.now(dt.UTC)
    hour_ago = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    since = visitor.http.get("/portal/messages", params={"since": hour_ago})
    assert len(_listed(since)) == 20
    until = visitor.http.get("/portal/messages", params={"until": hour_ago})
    assert _listed(until) == [] and "No messages match these filters." in until.text

    refused = visitor.http.get("/portal/messages", params={"since": "yesterday"})
    assert refused.status_code == 400 and _listed(refused) == []
    assert "&#39;yesterday&#39;" in refused.text and 'id="filter-since-error"' in refused.text
    unknown = visitor.http.get("/portal/messages", params={"type": "npn.nope"})
    assert unknown.status_code == 400 and "is no event type" in unknown.text

    # Another account's place in the list, or none, is no page of this one.
    other = sign_in(portal_service, portal_service.account())
    try:
        _create(other)
        cursor = re.search(r"before=(\d+)", older)
        assert cursor
        foreign = other.http.get("/portal/messages", params={"before": cursor[1]})
        assert foreign.status_code == 404 and "names no message of this account" in foreign.text
        assert published[0] not in other.http.get("/portal/messages").text
    finally:
        other.http.close()


def _deliveries(service: RunningService, message_id: str) -> dict[str, str]:
    with service.engine.connect() as conn:
        return {d.endpoint_id: d.state for d in outbox.list_deliveries(conn, message_id=message_id)}


def test_a_message_shows_its_payload_and_is_sent_to_an_endpoint_that_did_not_get_it(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """What the API's replay does for an event published while an endpoint was disabled,
    or before it was made, the portal had no way to: the Resend of Message Attempts is
    offered only for the endpoint's own attempts."""
    had = _create(visitor)
    (message_id,) = _publish(portal_service, visitor.creds.account_id, 1)
    missed = _create(visitor, _URL + "/later")
    path = f"/portal/messages/{message_id}"

    page = visitor.http.get(path)
    assert page.status_code == 200, page.text
    with portal_service.engine.connect() as conn:
        message = outbox.get_message(conn, None, message_id)
    assert message is not None
    shown = orjson.dumps(orjson.loads(message.payload), option=orjson.OPT_INDENT_2).decode()
    assert str(markupsafe.escape(shown)) in page.text
    assert UPDATES_AVAILABLE in page.text and "Pending" in page.text
    resend = f'action="/portal/endpoints/{had}/messages/{message_id}/resend"'
    assert resend in page.text
    send = page.text.split('id="send-title"')[1]
    assert f'value="{missed}" required>' in send and f'value="{had}"' not in send

    sent = visitor.form(f"{path}/send", endpoint=missed, once="a" * 32)
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"/portal/endpoints/{missed}/attempts?notice=resent"
    assert _deliveries(portal_service, message_id) == {had: "pending", missed: "pending"}
    again = visitor.form(f"{path}/send", endpoint=missed, once="a" * 32)
    assert again.headers["location"].endswith("notice=resent&again=1")
    after = visitor.http.get(path)
    assert 'id="send-title"' not in after.text  # every endpoint has it now


def test_a_pending_delivery_says_how_often_it_was_tried_and_when_it_is_tried_next(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """A delivery retried seven times, its last attempt hours away, was shown as Pending
    as one just queued: how many attempts it had and when the next is (the API's
    attempts and nextAttemptAt) were on no page."""
    endpoint_id = _create(visitor)
    (message_id,) = _publish(portal_service, visitor.creds.account_id, 1)
    path = f"/portal/messages/{message_id}"
    later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=5)
    # Each failed, the last planning the retry hours away, as the dispatcher logs them.
    engine = portal_service.engine
    log_attempts(engine, endpoint_id, [False] * 7, event_type=UPDATES_AVAILABLE, planned=later)

    def shown(**values: object) -> str:
        with write_transaction(portal_service.engine) as conn:
            conn.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.message_id == message_id)
                .values(**values)
            )
        page = visitor.http.get(path)
        assert page.status_code == 200, page.text
        row = re.search(r"<tbody>(.*?)</tbody>", _section(page, "deliveries-title"), re.S)
        assert row, page.text
        return " ".join(re.sub(r"<[^>]+>", " ", row[1]).split())

    retried = shown(attempts=7, next_attempt_at=later)
    assert "Pending 7 attempts" in retried
    assert later.strftime("%Y-%m-%d %H:%M:%S UTC") in retried
    assert "Due now" in shown(attempts=1, next_attempt_at=later - dt.timedelta(days=1))
    assert "None" in shown(state=outbox.FAILED, attempts=8, next_attempt_at=None)

    disabled = visitor.form(f"/portal/endpoints/{endpoint_id}/disable")
    assert disabled.status_code == 303, disabled.text
    held = shown(state=outbox.PENDING, next_attempt_at=later)
    assert "When the endpoint is enabled" in held
    assert later.strftime("%Y-%m-%d %H:%M:%S UTC") not in held


def test_a_message_whose_endpoint_was_deleted_is_not_said_to_have_had_none(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Its endpoint deleted, and its delivery with it, a message was said to have gone to
    no endpoint ("To no endpoint", "No endpoint was subscribed to this event when it was
    sent"), of one that went to it, was retried there and was dropped by the Delete."""
    endpoint_id = _create(visitor)
    (message_id,) = _publish(portal_service, visitor.creds.account_id, 1)
    deleted = visitor.form(f"/portal/endpoints/{endpoint_id}/delete", confirm="yes")
    assert deleted.status_code == 303, deleted.text

    page = visitor.http.get(f"/portal/messages/{message_id}")
    said = " ".join(_section(page, "deliveries-title").split())
    assert "No endpoint was subscribed to this event" not in said
    assert "or each one it went to has been deleted since" in said
    listed = visitor.http.get("/portal/messages").text
    row = listed.split(f'href="/portal/messages/{message_id}"')[1].split("</tr>")[0]
    assert "No deliveries" in row and "To no endpoint" not in row


def test_a_message_is_found_by_its_id(portal_service: RunningService, visitor: SignedIn) -> None:
    """A message a receiver logged (its webhook-id) or a customer named was found only
    page by page down the list, newest first: no page took its id."""
    _create(visitor)
    (message_id,) = _publish(portal_service, visitor.creds.account_id, 1)
    listed = visitor.http.get("/portal/messages").text
    assert 'action="/portal/messages/find"' in listed and 'name="id"' in listed

    found = visitor.http.get("/portal/messages/find", params={"id": f" {message_id}\n"})
    assert found.status_code == 303, found.text
    assert found.headers["location"] == f"/portal/messages/{message_id}"

    other = sign_in(portal_service, portal_service.account())
    try:
        theirs = other.http.get("/portal/messages/find", params={"id": message_id})
        assert theirs.status_code == 404, theirs.text
        assert f"No message of this account has the id &#39;{message_id}&#39;" in theirs.text
        assert "(parameter &#39;id&#39;)" in theirs.text
    finally:
        other.http.close()
    refused = visitor.http.get("/portal/messages/find", params={"id": "evt-1; drop"})
    assert refused.status_code == 400, refused.text
    assert "&#39;evt-1; drop&#39; is not a message id (parameter &#39;id&#39;)" in refused.text


def test_another_accounts_message_and_endpoint_are_not_found(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    _create(visitor)
    (message_id,) = _publish(portal_service, visitor.creds.account_id, 1)
    other = sign_in(portal_service, portal_service.account())
    try:
        theirs = _create(other)
        assert other.http.get(f"/portal/messages/{message_id}").status_code == 404
        sent = other.form(f"/portal/messages/{message_id}/send", endpoint=theirs)
        assert sent.status_code == 404 and "Message not found" in sent.text
        into = visitor.form(f"/portal/messages/{message_id}/send", endpoint=theirs)
        assert into.status_code == 404 and "Endpoint not found" in into.text
        bad = visitor.form(f"/portal/messages/{message_id}/send", endpoint="../x")
        assert bad.status_code == 400 and "endpoint" in bad.text
        assert theirs not in _deliveries(portal_service, message_id)
    finally:
        other.http.close()


def test_messages_are_shown_by_the_state_of_their_deliveries(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Which messages failed somewhere, or still wait, could be read only endpoint by
    endpoint (Message Attempts' Failed)."""
    _create(visitor)
    failed, pending = _publish(portal_service, visitor.creds.account_id, 2)
    with write_transaction(portal_service.engine) as conn:
        conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.message_id != pending)
            .values(state=outbox.FAILED)
        )
    shown = {
        state: _listed(visitor.http.get("/portal/messages", params={"state": state}))
        for state in ("failed", "pending", "succeeded")
    }
    assert failed in shown["failed"] and pending not in shown["failed"]
    assert shown["pending"] == [pending]
    assert shown["succeeded"] == []
    nothing = visitor.http.get("/portal/messages", params={"state": "succeeded"})
    assert "No message has a succeeded delivery." in nothing.text

    # The state is kept by the filter form and the pager; the state links keep the filter.
    page = visitor.http.get(
        "/portal/messages", params={"state": "failed", "type": UPDATES_AVAILABLE}
    )
    assert _listed(page) == [failed]
    assert '<input type="hidden" name="state" value="failed">' in page.text
    assert _link(page, "Pending") == f"/portal/messages?type={UPDATES_AVAILABLE}&state=pending"
    refused = visitor.http.get("/portal/messages", params={"state": "lost"})
    assert refused.status_code == 400 and "state" in refused.text


def _section(page: httpx2.Response, title: str) -> str:
    """The card of a message's page whose heading has that id."""
    return page.text.split(f'id="{title}"')[1].split("</section>")[0]


def _pager_link(section: str, label: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)">{label}</a>', section)
    return html.unescape(found.group(1)) if found else None


def _walk(visitor: SignedIn, path: str, title: str, shown: str) -> list[tuple[str, str]]:
    """What a list of a message's page shows (``shown``, a pattern), page after page by
    its Older link from ``path``, each page's as (the page's address, what it shows)."""
    seen: list[tuple[str, str]] = []
    address: str | None = path
    while address is not None:
        page = visitor.http.get(address)
        assert page.status_code == 200, page.text
        section = _section(page, title)
        listed = re.findall(shown, section)
        assert 0 < len(listed) <= 20, listed  # a page, not all of them
        seen += [(address, item) for item in listed]
        address = _pager_link(section, "Older")
    return seen


def test_every_delivery_and_every_endpoint_that_missed_a_message_is_reached_page_by_page(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """A message's page listed its first 50 deliveries and the newest 50 endpoints that
    missed it, and no more: past them, a delivery's attempts and a Resend, or a Send to
    an endpoint, were out of the portal's reach (a message sent to 1,000 endpoints had
    made a page of 0.7 MB)."""
    account = visitor.creds.account_id
    with write_transaction(portal_service.engine) as conn:
        for n in range(52):
            endpoints.create_endpoint(conn, account, f"https://hooks.example.com/had/{n}")
    (message_id,) = _publish(portal_service, account, 1)
    with write_transaction(portal_service.engine) as conn:
        for n in range(53):
            endpoints.create_endpoint(conn, account, f"https://hooks.example.com/later/{n}")
        conn.execute(webhook_deliveries.update().values(state=outbox.FAILED))
    path = f"/portal/messages/{message_id}"

    # Every delivery, each once, the latest queued first; the 51st has its Resend.
    resend = rf'action="/portal/endpoints/(ep_[0-9a-f]+)/messages/{message_id}/resend"'
    delivered = _walk(visitor, path, "deliveries-title", resend)
    assert len(delivered) == 52 and len({ep for _, ep in delivered}) == 52
    with portal_service.engine.connect() as conn:
        queued = outbox.list_deliveries(conn, message_id=message_id)
    assert [ep for _, ep in delivered] == [d.endpoint_id for d in queued][::-1]
    address, fifty_first = delivered[50]
    assert "To 52 endpoints" in visitor.http.get(address).text
    resent = visitor.form(
        f"/portal/endpoints/{fifty_first}/messages/{message_id}/resend", once="b" * 32
    )
    assert resent.status_code == 303, resent.text
    assert _deliveries(portal_service, message_id)[fifty_first] == outbox.PENDING

    # Every endpoint made since, newest first; the 51st is sent the message from its page.
    missed = _walk(visitor, path, "send-title", r'name="endpoint" value="(ep_[0-9a-f]+)"')
    with portal_service.engine.connect() as conn:
        made = [e.id for e in endpoints.list_endpoints(conn, account)]
    assert [ep for _, ep in missed] == made[:53]
    address, fifty_first = missed[50]
    page = visitor.http.get(address)
    send = _section(page, "send-title")
    assert f'value="{fifty_first}" required>' in send and "/replay" not in send
    sent = visitor.form(f"{path}/send", endpoint=fifty_first, once="c" * 32)
    assert sent.status_code == 303, sent.text
    assert _deliveries(portal_service, message_id)[fifty_first] == outbox.PENDING

    # Each list's links keep the other list's page, and open the page at the list.
    cursor = re.search(r"missed_before=(\d+)", address)
    assert cursor is not None
    older = _pager_link(_section(page, "deliveries-title"), "Older")
    # The first page's last delivery: the 20th queued from the latest.
    query = f"deliveries_before={queued[-20].id}&missed_before={cursor[1]}"
    assert older == f"{path}?{query}#deliveries-title"
    assert 'aria-label="Pages of deliveries"' in page.text


def test_a_message_page_refuses_a_cursor_it_cannot_read(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """A cursor that is no place in a list is the portal's page naming it, not a 500; one
    past the list's end (its endpoints deleted since) is an empty page that says so."""
    _create(visitor)
    (message_id,) = _publish(portal_service, visitor.creds.account_id, 1)
    path = f"/portal/messages/{message_id}"
    for name, value in (("deliveries_before", "abc"), ("missed_before", "-1")):
        refused = visitor.http.get(path, params={name: value})
        assert refused.status_code == 400, refused.text
        assert f"&#39;{name}&#39;" in refused.text and value in refused.text
    twice = visitor.http.get(f"{path}?deliveries_before=5&deliveries_before=6")
    assert twice.status_code == 400 and "deliveries_before" in twice.text

    past = visitor.http.get(path, params={"deliveries_before": 1, "missed_before": 1})
    assert past.status_code == 200, past.text
    assert "No deliveries were queued before this page's start" in past.text
    assert "No endpoint made before this page's start missed it" in past.text
    assert _pager_link(_section(past, "deliveries-title"), "Newest") == (
        f"{path}?missed_before=1#deliveries-title"
    )


def test_a_message_whose_payload_expired_says_so_and_for_how_long_payloads_are_kept(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    _create(visitor)
    (message_id,) = _publish(portal_service, visitor.creds.account_id, 1)
    with write_transaction(portal_service.engine) as conn:
        conn.execute(
            webhook_messages.update()
            .where(webhook_messages.c.id == message_id)
            .values(payload="")  # as the retention pruner leaves it
        )
    page = visitor.http.get(f"/portal/messages/{message_id}")
    days = portal_service.settings.payload_retention_days
    said = f"payload has expired (payloads are kept {days} days): it cannot be sent again."
    assert page.status_code == 200 and said in page.text, page.text


def _statements_per_page(service: RunningService, endpoint_count: int) -> list[int]:
    """The statements the Messages list and a message's page run, for a new account's
    message sent to ``endpoint_count`` endpoints, each attempted twice (the latest
    succeeded)."""
    visitor = sign_in(service, service.account())
    try:
        account = visitor.creds.account_id
        with write_transaction(service.engine) as conn:
            made = [
                endpoints.create_endpoint(conn, account, f"https://hooks.example.com/{n}")[0]
                for n in range(endpoint_count)
            ]
        (message_id,) = _publish(service, account, 1)
        for endpoint in made:
            log_attempts(service.engine, endpoint.id, [False, True], event_type=UPDATES_AVAILABLE)
        counts = []
        for path in ("/portal/messages", f"/portal/messages/{message_id}"):
            with service.statements() as sent:
                page = visitor.http.get(path)
            assert page.status_code == 200, page.text
            counts.append(len(sent))
        # Each delivery shown with its endpoint and its latest attempt, not the first.
        assert page.text.count("Resend to https://hooks.example.com/") == endpoint_count
        assert page.text.count(">200 at <time") == endpoint_count
        assert ">503 at" not in page.text
        listed = visitor.http.get("/portal/messages").text
        assert f"{endpoint_count} pending</span>" in listed
        return counts
    finally:
        visitor.http.close()


def test_a_page_runs_as_many_statements_whatever_the_deliveries_it_shows(
    each_portal: RunningService,
) -> None:
    """A message's page read each delivery's endpoint and its latest attempt on its own:
    two statements more per delivery shown (~40 more for a page of 20). A message sent to
    20 endpoints (a page of them: no pager, whose links cost a statement more) costs each
    page what one sent to 3 does."""
    assert _statements_per_page(each_portal, 3) == _statements_per_page(each_portal, 20)
