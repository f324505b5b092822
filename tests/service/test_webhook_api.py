"""The webhook management API (/v1/webhooks) against a running service, on each backend."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from producersync.model.events import (
    ENDPOINT_TEST,
    NPN_ACTIVATED,
    UPDATES_AVAILABLE,
    NpnActivated,
)
from producersync.service.api.paging import DEFAULT_PAGE
from producersync.service.delivery.management import EXAMPLE_NPN, SUBSCRIBABLE
from producersync.service.delivery.publish import publish_events
from producersync.service.store import endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import webhook_attempts, webhook_deliveries
from tests.support.databases import answered_while_deleted
from tests.support.delivery import endpoints_made_in_one_millisecond, log_attempts
from tests.support.service import RunningService, running_service

BASE = "/v1/webhooks"
URL = "http://127.0.0.1:9/hook"
ENDPOINT_FIELDS = {
    "id",
    "url",
    "description",
    "eventTypes",
    "enabled",
    "disabledReason",
    "rateLimitPerSecond",
    "failingSince",
    "createdAt",
    "updatedAt",
}


def _create(http: httpx2.Client, **body: Any) -> dict[str, Any]:
    response = http.post(f"{BASE}/endpoints", json={"url": URL, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _ok(response: httpx2.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _messages(http: httpx2.Client, **params: Any) -> list[dict[str, Any]]:
    page = _ok(http.get(f"{BASE}/messages", params=params))
    data: list[dict[str, Any]] = page["data"]
    return data


def test_endpoint_round_trip(service: RunningService) -> None:
    with service.client(service.account()) as http:
        created = _create(
            http,
            description="orders",
            eventTypes=["producersync.updates_available"],
            rateLimitPerSecond=5,
        )
        assert set(created) == ENDPOINT_FIELDS | {"secret"}
        assert created["url"] == URL and created["enabled"] and created["rateLimitPerSecond"] == 5
        path = f"{BASE}/endpoints/{created['id']}"
        assert _ok(http.get(path)) == {k: v for k, v in created.items() if k != "secret"}
        assert [e["id"] for e in _ok(http.get(f"{BASE}/endpoints"))["data"]] == [created["id"]]

        changed = _ok(
            http.patch(
                path,
                json={
                    "url": "http://127.0.0.1:9/other",
                    "description": "all",
                    "eventTypes": ["producersync"],
                    "rateLimitPerSecond": 7,
                },
            )
        )
        assert (changed["url"], changed["description"]) == ("http://127.0.0.1:9/other", "all")
        assert (changed["eventTypes"], changed["rateLimitPerSecond"]) == (["producersync"], 7)
        cleared = _ok(http.patch(path, json={"eventTypes": None, "rateLimitPerSecond": None}))
        assert (cleared["eventTypes"], cleared["rateLimitPerSecond"]) == (None, None)
        assert cleared["description"] == "all"  # left out, so unchanged

        disabled = _ok(http.post(f"{path}/disable", json={"reason": "maintenance"}))
        assert (disabled["enabled"], disabled["disabledReason"]) == (False, "maintenance")
        enabled = _ok(http.post(f"{path}/enable"))
        assert (enabled["enabled"], enabled["disabledReason"]) == (True, None)

        assert http.delete(path).status_code == 204
        assert http.get(path).status_code == 404
        assert http.delete(path).status_code == 404
        assert _ok(http.get(f"{BASE}/endpoints"))["data"] == []


def test_endpoints_are_listed_newest_first_a_page_at_a_time(service: RunningService) -> None:
    """Paged as the messages are: with 500 endpoints, the list was one response."""
    with service.client(service.account()) as http:
        newest_first = [_create(http)["id"] for _ in range(DEFAULT_PAGE + 3)][::-1]
        first = _ok(http.get(f"{BASE}/endpoints"))
        assert [e["id"] for e in first["data"]] == newest_first[:DEFAULT_PAGE]
        rest = _ok(http.get(f"{BASE}/endpoints", params={"before": first["nextBefore"]}))
        assert [e["id"] for e in rest["data"]] == newest_first[DEFAULT_PAGE:]
        assert rest["nextBefore"] is None
        assert _paged_deleting_each_page(http) == newest_first
        assert _ok(http.get(f"{BASE}/endpoints")) == {"data": [], "nextBefore": None}


def _paged_deleting_each_page(http: httpx2.Client) -> list[str]:
    """The endpoints listed two a page by a script that deletes each endpoint of a page,
    the one its nextBefore names included, before it asks for the next."""
    paged: list[str] = []
    before = None
    while True:
        params = {"limit": 2} | ({"before": before} if before else {})
        page = _ok(http.get(f"{BASE}/endpoints", params=params))
        paged += [e["id"] for e in page["data"]]
        for endpoint in page["data"]:
            assert http.delete(f"{BASE}/endpoints/{endpoint['id']}").status_code == 204
        before = page["nextBefore"]
        if before is None:
            return paged


def test_endpoints_made_in_one_millisecond_are_listed_in_the_order_made(
    service: RunningService,
) -> None:
    """Listed by id, they came in the order of their ids' random tails."""
    creds = service.account()
    made = endpoints_made_in_one_millisecond(service.engine, creds.account_id, 5)
    with service.client(creds) as http:
        assert [e["id"] for e in _ok(http.get(f"{BASE}/endpoints"))["data"]] == made[::-1]
        assert _paged_deleting_each_page(http) == made[::-1]


def test_an_endpoint_id_as_before_is_refused_naming_what_to_pass(
    service: RunningService,
) -> None:
    """The list's cursor was the id of a page's last endpoint; a place by id is no place
    in the order made once that endpoint is deleted, so it is refused, not guessed at."""
    creds = service.account()
    (made,) = endpoints_made_in_one_millisecond(service.engine, creds.account_id, 1)
    with service.client(creds) as http:
        response = http.get(f"{BASE}/endpoints", params={"before": made})
        assert response.status_code == 400, response.text
        assert response.json()["message"] == (
            f"Invalid value '{made}' for parameter 'before': an endpoint id, which no longer "
            "marks a page: endpoints are paged in the order they were made; pass the "
            "nextBefore of the page above (pos_...)"
        )


def test_secret_is_shown_on_create_and_by_the_secret_route_only(service: RunningService) -> None:
    with service.client(service.account()) as http:
        created = _create(http)
        secret = created["secret"]
        assert secret.startswith("whsec_")
        path = f"{BASE}/endpoints/{created['id']}"
        assert secret not in http.get(path).text
        assert secret not in http.get(f"{BASE}/endpoints").text
        assert _ok(http.get(f"{path}/secret")) == {"secret": secret}


def test_an_answer_carrying_a_secret_is_not_to_be_kept(service: RunningService) -> None:
    """Create, reveal and rotate were sent with no Cache-Control, so a cache (a browser's,
    a client library's) could keep the signing secret; the token endpoint's answers and
    the portal's pages are no-store."""
    with service.client(service.account()) as http:
        created = http.post(f"{BASE}/endpoints", json={"url": URL})
        path = f"{BASE}/endpoints/{created.json()['id']}"
        for response in (created, http.get(f"{path}/secret"), http.post(f"{path}/secret/rotate")):
            assert response.status_code in (200, 201), response.text
            assert response.headers["cache-control"] == "no-store"


def test_rotation_returns_a_new_secret_and_the_old_one_keeps_signing(
    service: RunningService,
) -> None:
    with service.client(service.account()) as http:
        created = _create(http)
        path = f"{BASE}/endpoints/{created['id']}"
        rotated = _ok(http.post(f"{path}/secret/rotate"))["secret"]
        assert rotated.startswith("whsec_") and rotated != created["secret"]
        assert _ok(http.get(f"{path}/secret")) == {"secret": rotated}
    with service.engine.connect() as conn:
        active = endpoints.active_secrets(conn, [created["id"]])
    assert active == {created["id"]: [rotated, created["secret"]]}


def test_rotations_at_once_leave_one_current_secret(service: RunningService) -> None:
    """On PostgreSQL, 8 rotations at once left up to 8 current secrets, each signing every
    message without end, and the secret route showed any one of them."""
    creds = service.account()

    def rotate(path: str) -> str:
        with service.client(creds) as http:
            secret: str = _ok(http.post(f"{path}/secret/rotate"))["secret"]
            return secret

    with service.client(creds) as http:
        endpoint_id = _create(http)["id"]
        path = f"{BASE}/endpoints/{endpoint_id}"
        for _ in range(3):
            with ThreadPoolExecutor(8) as pool:
                rotated = list(pool.map(rotate, [path] * 8))
            current = _ok(http.get(f"{path}/secret"))["secret"]
            with service.engine.connect() as conn:
                active = endpoints.active_secrets(conn, [endpoint_id])[endpoint_id]
            # The last rotation's secret, and the newest few rotated out in their grace.
            assert active[0] == current and current in rotated
            assert len(active) == 1 + endpoints.SECRETS_IN_GRACE
            assert set(active) <= set(rotated)


_AN_HOUR_AGO = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "/secret/rotate", None),
        ("POST", "/send-example", {"eventType": NPN_ACTIVATED}),
        ("POST", "/messages/{message}/replay", None),
        ("GET", "/secret", None),
        ("POST", "/recover", {"since": _AN_HOUR_AGO}),
        ("PATCH", "", {"description": "moved"}),
        ("POST", "/enable", None),
        ("POST", "/disable", None),
        ("DELETE", "", None),  # a second delete at once
    ],
    ids=[
        "rotate",
        "send-example",
        "replay",
        "secret",
        "recover",
        "update",
        "enable",
        "disable",
        "delete",
    ],
)
def test_an_endpoint_deleted_meanwhile_is_a_404_not_a_500(
    service: RunningService, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    """On PostgreSQL, a DELETE committed while the request ran failed the foreign key of
    the row it added (or the read of a secret that every endpoint has): a 500; recover
    found the failed delivery it had read gone when it came to re-arm it (the test
    event's, failed here), and answered 202, 'queued: 0'. The changes of the endpoint's
    own row (update, enable, disable, delete) wait for the DELETE and find no row."""
    if service.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns, so none runs while another deletes")
    with service.client(service.account()) as http:
        endpoint_id = _create(http)["id"]
        message = _messages(http)[0]["id"]
        path = f"{BASE}/endpoints/{endpoint_id}{suffix.format(message=message)}"
        with service.engine.begin() as conn:
            ours = webhook_deliveries.c.endpoint_id == endpoint_id
            conn.execute(webhook_deliveries.update().where(ours).values(state=outbox.FAILED))
        response = answered_while_deleted(
            service.engine, endpoint_id, lambda: http.request(method, path, json=body)
        )
    assert response.status_code == 404, response.text
    assert f"No webhook endpoint {endpoint_id}" in response.json()["message"]


def test_event_types_are_the_subscribable_ones(service: RunningService) -> None:
    with service.client(service.account()) as http:
        listed = _ok(http.get(f"{BASE}/event-types"))["data"]
    assert [t["name"] for t in listed] == list(SUBSCRIBABLE)
    assert all(t["description"] for t in listed)


@pytest.mark.parametrize(
    ("method", "suffix", "body", "named"),
    [
        ("POST", "", {"url": URL, "eventTypes": ["producersync.nope"]}, "eventTypes"),
        ("POST", "", {"url": URL, "eventTypes": []}, "eventTypes"),
        ("POST", "", {"url": URL, "rateLimitPerSecond": 0}, "rateLimitPerSecond"),
        ("POST", "", {"url": "ftp://127.0.0.1/x"}, "url"),
        ("POST", "", {"url": URL, "description": "x" * 501}, "description"),
        ("POST", "", {"url": URL, "eventType": ["producersync"]}, "eventType"),
        ("POST", "", b'{"url": ', "JSON"),
        ("PATCH", "/{id}", {"url": None}, "url"),
        ("PATCH", "/{id}", {"rateLimitPerSecond": 10_001}, "rateLimitPerSecond"),
        ("PATCH", "/{id}", {"eventTypes": ["webhook.test"]}, "eventTypes"),
        ("PATCH", "/{id}", b"not json", "JSON"),
        ("POST", "/{id}/send-example", {"eventType": "producersync"}, "eventType"),
        ("POST", "/{id}/recover", {"since": "yesterday"}, "since"),
        ("POST", "", {"url": URL, "rateLimitPerSecond": True}, "rateLimitPerSecond"),
        ("PATCH", "/{id}", {"rateLimitPerSecond": "10"}, "rateLimitPerSecond"),
        ("PATCH", "/{id}", {"url": "https://93.184.216.34/a b"}, "url"),
        ("PATCH", "/{id}", {"url": "https://93.184.216.34:0/"}, "url"),
    ],
    ids=[
        "unknown-type",
        "empty-types",
        "rate-zero",
        "ftp-url",
        "long-description",
        "misspelt-field",
        "malformed-json",
        "null-url",
        "rate-too-high",
        "unsubscribable-type",
        "patch-not-json",
        "example-of-a-group",
        "since-not-a-time",
        "rate-a-boolean",
        "rate-a-string",
        "url-with-a-space",
        "url-port-zero",
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    service: RunningService, method: str, suffix: str, body: Any, named: str
) -> None:
    with service.client(service.account()) as http:
        endpoint_id = _create(http)["id"]
        path = f"{BASE}/endpoints{suffix.format(id=endpoint_id)}"
        if isinstance(body, bytes):
            response = http.request(
                method, path, content=body, headers={"content-type": "application/json"}
            )
        else:
            response = http.request(method, path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert set(error) == {"timestamp", "status", "error", "message", "path"}
    # A field is named in quotes; a body that is not JSON at all is called that.
    assert (f"'{named}'" if named != "JSON" else named) in error["message"]


def test_an_empty_patch_changes_nothing_not_even_updated_at(service: RunningService) -> None:
    with service.client(service.account()) as http:
        created = _create(http)
        patched = _ok(http.patch(f"{BASE}/endpoints/{created['id']}", json={}))
    created.pop("secret")  # shown on creation only
    assert patched == created


@pytest.mark.parametrize(
    ("body", "says"),
    [
        # The pattern's refusal had quoted its regex; a validator's, pydantic's prefix.
        ({"description": "a\x00b"}, "for field 'description': a NUL character cannot be stored"),
        ({"url": "https://93.184.216.34/a b"}, "for field 'url': a URL has no spaces"),
    ],
)
def test_a_refusal_is_in_words_not_a_pattern(
    service: RunningService, body: dict[str, str], says: str
) -> None:
    with service.client(service.account()) as http:
        endpoint_id = _create(http)["id"]
        response = http.patch(f"{BASE}/endpoints/{endpoint_id}", json=body)
    assert response.status_code == 400
    assert says in response.json()["message"]


@pytest.mark.parametrize(
    ("suffix", "body", "says"),
    [
        ("", {"url": "ftp://127.0.0.1/x"}, "Invalid value 'ftp://127.0.0.1/x' for field 'url'"),
        ("", {"url": URL, "eventTypes": ["nope"]}, """Invalid value '["nope"]' for field"""),
        ("", {"url": URL, "rateLimitPerSecond": 0}, "for field 'rateLimitPerSecond'"),
        ("/{id}/recover", {"since": "2001-01-01"}, "for field 'since': '2001-01-01T00:00:00+00"),
    ],
    ids=["url", "event-types", "rate-limit", "recover-since"],
)
def test_a_refusal_by_the_rules_names_a_field_of_the_body(
    service: RunningService, suffix: str, body: dict[str, Any], says: str
) -> None:
    """As pydantic's refusals of the body do: the rules' said 'for parameter'."""
    with service.client(service.account()) as http:
        path = f"{BASE}/endpoints{suffix.format(id=_create(http)['id'])}"
        response = http.post(path, json=body)
    assert response.status_code == 400, response.text
    assert says in response.json()["message"]


def test_a_refusal_shows_the_value_as_json(service: RunningService) -> None:
    with service.client(service.account()) as http:
        endpoint_id = _create(http)["id"]
        response = http.patch(f"{BASE}/endpoints/{endpoint_id}", json={"url": None})
    assert "Invalid value 'null' for field 'url'" in response.json()["message"]


def test_a_message_cursor_must_name_a_message_of_the_account(service: RunningService) -> None:
    a, b = service.account(), service.account()
    with service.client(a) as http_a, service.client(b) as http_b:
        _create(http_a)
        _create(http_b)
        theirs = _messages(http_a)[0]["id"]
        for before in ("evt_garbage", theirs):
            response = http_b.get(f"{BASE}/messages", params={"before": before})
            assert response.status_code == 404, response.text
            assert f"{before} (parameter 'before')" in response.json()["message"]


def test_private_and_plain_http_urls_are_refused_by_default(universe_url: str) -> None:
    with (
        running_service(universe_url, allow_private_endpoints=False) as svc,
        svc.client(svc.account()) as http,
    ):
        for url, why in (
            ("http://hooks.example.com/x", "https is required here"),
            ("https://127.0.0.1/x", "non-public address"),
            ("https://user:pw@hooks.example.com/x", "credentials"),
        ):
            response = http.post(f"{BASE}/endpoints", json={"url": url})
            assert response.status_code == 400, response.text
            assert "'url'" in response.json()["message"] and why in response.json()["message"]
            assert "pw" not in response.text  # the credentials refused are not echoed


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:pw-1a2b3c@hooks.example.com/a b", "a URL has no spaces"),
        ("https://user:pw-1a2b3c@hooks.example.com/" + "a" * 2100, "at most 2048"),
    ],
    ids=["space", "length"],
)
def test_a_url_refused_by_its_syntax_is_not_echoed_with_its_credentials(
    service: RunningService, url: str, why: str
) -> None:
    """The rules' refusals masked them; the body model's showed the URL whole."""
    with service.client(service.account()) as http:
        endpoint_id = _create(http)["id"]
        for response in (
            http.post(f"{BASE}/endpoints", json={"url": url}),
            http.patch(f"{BASE}/endpoints/{endpoint_id}", json={"url": url}),
        ):
            assert response.status_code == 400, response.text
            message = response.json()["message"]
            assert "'https://***@hooks.example.com/" in message and why in message
            assert "pw-1a2b3c" not in response.text


def test_another_accounts_endpoints_and_messages_are_404(service: RunningService) -> None:
    a, b = service.account(), service.account()
    with service.client(a) as http_a, service.client(b) as http_b:
        theirs = _create(http_a)["id"]
        message = _messages(http_a)[0]["id"]
        mine = _create(http_b)["id"]
        path = f"{BASE}/endpoints/{theirs}"
        for method, suffix, body in (
            ("GET", "", None),
            ("PATCH", "", {"description": "mine now"}),
            ("POST", "/disable", None),
            ("POST", "/enable", None),
            ("GET", "/secret", None),
            ("POST", "/secret/rotate", None),
            ("POST", "/send-example", {"eventType": "producersync.npn.activated"}),
            ("GET", "/attempts", None),
            ("POST", f"/messages/{message}/replay", None),
            ("POST", "/recover", {"since": dt.datetime.now(dt.UTC).isoformat()}),
            ("DELETE", "", None),
        ):
            response = http_b.request(method, f"{path}{suffix}", json=body)
            assert response.status_code == 404, f"{method} {suffix}: {response.text}"
        assert http_b.get(f"{BASE}/messages/{message}").status_code == 404
        assert http_b.get(f"{BASE}/messages/{message}/attempts").status_code == 404
        replay = http_b.post(f"{BASE}/endpoints/{mine}/messages/{message}/replay")
        assert replay.status_code == 404
        assert message not in {m["id"] for m in _messages(http_b)}
        assert [e["id"] for e in _ok(http_b.get(f"{BASE}/endpoints"))["data"]] == [mine]
        assert _ok(http_a.get(path))["description"] == ""


def test_a_read_only_client_cannot_change_endpoints(service: RunningService) -> None:
    writer = service.account()
    reader = service.account(scope="producersync.read")
    with service.client(reader) as http:
        assert _ok(http.get(f"{BASE}/endpoints")) == {"data": [], "nextBefore": None}
        assert http.post(f"{BASE}/endpoints", json={"url": URL}).status_code == 403
    with service.client(writer) as http:
        assert http.post(f"{BASE}/endpoints", json={"url": URL}).status_code == 201


def test_creating_an_endpoint_queues_a_test_event_to_it(service: RunningService) -> None:
    with service.client(service.account()) as http:
        created = _create(http, eventTypes=["producersync.updates_available"])
        [message] = _messages(http)
    assert message["eventType"] == "webhook.test"
    assert message["payload"]["type"] == "webhook.test"
    assert message["payload"]["data"]["endpointId"] == created["id"]
    [delivery] = message["deliveries"]
    assert (delivery["endpointId"], delivery["state"], delivery["attempts"]) == (
        created["id"],
        "pending",
        0,
    )


def test_send_example_goes_to_that_endpoint_only(service: RunningService) -> None:
    with service.client(service.account()) as http:
        target = _create(http, eventTypes=["producersync.updates_available"])["id"]
        _create(http)  # takes every type, yet gets no example
        accepted = _ok(
            http.post(
                f"{BASE}/endpoints/{target}/send-example",
                json={"eventType": "producersync.npn.activated"},
            ),
            202,
        )
        message = _ok(http.get(f"{BASE}/messages/{accepted['messageId']}"))
        only_examples = _messages(http, eventType="producersync.npn.activated")
    assert message["eventType"] == "producersync.npn.activated"
    assert message["payload"]["data"]["npn"] == EXAMPLE_NPN
    assert [d["endpointId"] for d in message["deliveries"]] == [target]
    assert [m["id"] for m in only_examples] == [accepted["messageId"]]


def test_replay_queues_a_manual_delivery(service: RunningService) -> None:
    with service.client(service.account()) as http:
        first = _create(http)["id"]
        second = _create(http)["id"]
        # The first endpoint's test event was never meant for the second one.
        test_event = next(m for m in _messages(http) if m["payload"]["data"]["endpointId"] == first)
        accepted = _ok(
            http.post(f"{BASE}/endpoints/{second}/messages/{test_event['id']}/replay"), 202
        )
        unknown = http.post(f"{BASE}/endpoints/{second}/messages/evt_nope/replay")
    assert unknown.status_code == 404
    d = webhook_deliveries
    with service.engine.connect() as conn:
        row = conn.execute(
            sa.select(d.c.message_id, d.c.endpoint_id, d.c.state, d.c.manual).where(
                d.c.id == accepted["deliveryId"]
            )
        ).one()
    assert tuple(row) == (test_event["id"], second, "pending", True)


def test_what_is_queued_to_a_disabled_endpoint_is_accepted_and_said_to_wait(
    service: RunningService,
) -> None:
    """Send Example, replay and recover answered as if it would go now, where the portal
    said it waits: 202 all the same (a disabled endpoint's deliveries wait, as Svix's),
    and ``waitsUntilEnabled`` says which it is."""
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    with service.client(service.account()) as http:
        endpoint = _create(http)["id"]
        [test_event] = _messages(http)
        example = {"eventType": "producersync.npn.activated"}

        def queue_each() -> list[dict[str, Any]]:
            return [
                _ok(http.post(f"{BASE}/endpoints/{endpoint}/send-example", json=example), 202),
                _ok(
                    http.post(f"{BASE}/endpoints/{endpoint}/messages/{test_event['id']}/replay"),
                    202,
                ),
                _ok(http.post(f"{BASE}/endpoints/{endpoint}/recover", json={"since": since}), 202),
            ]

        _ok(http.post(f"{BASE}/endpoints/{endpoint}/disable"))
        waiting = queue_each()
        _ok(http.post(f"{BASE}/endpoints/{endpoint}/enable"))
        going = queue_each()
    assert [a["waitsUntilEnabled"] for a in waiting] == [True] * 3
    assert [a["waitsUntilEnabled"] for a in going] == [False] * 3
    assert [sorted(a) for a in waiting] == [
        ["messageId", "waitsUntilEnabled"],
        ["deliveryId", "waitsUntilEnabled"],
        ["queued", "waitsUntilEnabled"],
    ]


def test_recover_takes_at_most_14_days(service: RunningService) -> None:
    now = dt.datetime.now(dt.UTC)
    with service.client(service.account()) as http:
        path = f"{BASE}/endpoints/{_create(http)['id']}/recover"
        old = http.post(path, json={"since": (now - dt.timedelta(days=15)).isoformat()})
        ahead = http.post(path, json={"since": (now + dt.timedelta(days=1)).isoformat()})
        recent = http.post(path, json={"since": (now - dt.timedelta(days=1)).isoformat()})
        # Times with no UTC to convert to (the calendar's ends): refused, not a 500, by
        # their syntax as the spec's pattern refuses them.
        first = http.post(path, json={"since": "0001-01-01T00:00:00+14:00"})
        last = http.post(path, json={"since": "9999-12-31T23:59:00-14:00"})
        # ISO 8601 only, as the lists' since: pydantic's datetime read Unix seconds too.
        unix = http.post(path, json={"since": "1700000000"})
    assert old.status_code == 400 and "14 days" in old.json()["message"]
    assert "'since'" in old.json()["message"]
    assert ahead.status_code == 400 and "future" in ahead.json()["message"]
    for edge in (first, last):
        assert edge.status_code == 400 and "years 1 to 9999 in UTC" in edge.json()["message"]
    assert unix.status_code == 400 and "not an ISO 8601 time" in unix.json()["message"]
    assert _ok(recent, 202) == {"queued": 0, "waitsUntilEnabled": False}


def _record_attempts(
    service: RunningService, message_id: str, endpoint_id: str, statuses: tuple[int, ...]
) -> None:
    """Attempts of the message to the endpoint answered with ``statuses`` in turn, a
    second apart, recorded as the dispatcher records them: each under the claim the one
    before left (a claim carries the endpoint's URL as it claimed it)."""
    with service.engine.connect() as conn:
        [delivery] = outbox.list_deliveries(conn, message_id=message_id, endpoint_id=endpoint_id)
        stored = outbox.get_message(conn, None, message_id)
        assert stored is not None
        endpoint = endpoints.get_endpoint(conn, stored.account_id, endpoint_id)
    assert endpoint is not None
    now = dt.datetime.now(dt.UTC)
    held = delivery.next_attempt_at  # the claim: attempts made while it stands
    with write_transaction(service.engine) as conn:
        for made, status in enumerate(statuses):
            assert held is not None
            claimed = outbox.Claimed(
                delivery.id,
                message_id,
                endpoint_id,
                endpoint.url,
                b"{}",
                delivery.attempts + made,
                False,
                None,
                held,
                stored.event_type,
            )
            outcome = outbox.Outcome(
                claimed,
                attempted_at=now + dt.timedelta(seconds=made),
                succeeded=status == 200,
                status_code=status,
                duration_ms=12,
                response="ok" if status == 200 else "busy",
                error=None,
                next_attempt_at=None if status == 200 else now + dt.timedelta(seconds=5),
            )
            assert outbox.record(conn, [outcome]) == 1
            held = outcome.next_attempt_at


def test_attempts_are_listed_newest_first_by_endpoint_and_message(
    service: RunningService,
) -> None:
    with service.client(service.account()) as http:
        endpoint = _create(http)
        [message] = _messages(http)
        _record_attempts(service, message["id"], endpoint["id"], (503, 200))
        by_endpoint = _ok(http.get(f"{BASE}/endpoints/{endpoint['id']}/attempts"))
        first_page = _ok(http.get(f"{BASE}/messages/{message['id']}/attempts?limit=1"))
        second_page = _ok(
            http.get(
                f"{BASE}/messages/{message['id']}/attempts",
                params={"limit": 1, "before": first_page["nextBefore"]},
            )
        )
        delivered = _ok(http.get(f"{BASE}/messages/{message['id']}"))["deliveries"][0]
    assert [a["statusCode"] for a in by_endpoint["data"]] == [200, 503]
    assert by_endpoint["nextBefore"] is None
    newest = by_endpoint["data"][0]
    assert newest["attemptNumber"] == 2 and newest["trigger"] == "scheduled"
    assert newest["succeeded"] and newest["response"] == "ok" and newest["durationMs"] == 12
    assert first_page["data"] == by_endpoint["data"][:1]
    assert second_page["data"] == by_endpoint["data"][1:]
    assert (delivered["state"], delivered["attempts"]) == ("succeeded", 2)


def test_an_attempt_keeps_the_url_it_was_sent_to_after_the_endpoint_moves(
    service: RunningService,
) -> None:
    """An attempt's URL is the one it went to: read from the endpoint, every attempt made
    before its URL was changed read as sent to the new one. One made before attempts
    kept it says it is not known (null), not the endpoint's URL now."""
    moved = URL + "/moved"
    with service.client(service.account()) as http:
        endpoint = _create(http)
        [message] = _messages(http)
        _record_attempts(service, message["id"], endpoint["id"], (503,))
        _ok(http.patch(f"{BASE}/endpoints/{endpoint['id']}", json={"url": moved}))
        _record_attempts(service, message["id"], endpoint["id"], (200,))
        by_endpoint = _attempts_of(http, f"/endpoints/{endpoint['id']}")
        assert [(a["statusCode"], a["url"]) for a in by_endpoint] == [(200, moved), (503, URL)]
        assert _attempts_of(http, f"/messages/{message['id']}") == by_endpoint
        with write_transaction(service.engine) as conn:
            conn.execute(
                webhook_attempts.update()
                .where(webhook_attempts.c.endpoint_id == endpoint["id"])
                .values(url=None)
            )
        unknown = _attempts_of(http, f"/endpoints/{endpoint['id']}")
    assert [a["url"] for a in unknown] == [None, None]


def _attempts_of(http: httpx2.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    page = _ok(http.get(f"{BASE}{path}/attempts", params=params))
    data: list[dict[str, Any]] = page["data"]
    return data


def test_attempts_and_messages_are_filtered_by_type_time_and_outcome(
    service: RunningService,
) -> None:
    noon = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    with service.client(service.account()) as http:
        endpoint = _create(http)["id"]
        for event_type in (UPDATES_AVAILABLE, NPN_ACTIVATED):
            sent = http.post(
                f"{BASE}/endpoints/{endpoint}/send-example", json={"eventType": event_type}
            )
            _ok(sent, 202)
        # Two of each type, the first succeeded; the types an hour apart from noon.
        for hour, event_type in enumerate((UPDATES_AVAILABLE, NPN_ACTIVATED, ENDPOINT_TEST)):
            start = noon + dt.timedelta(hours=hour)
            log_attempts(
                service.engine, endpoint, [True, False], event_type=event_type, start=start
            )
        at = f"/endpoints/{endpoint}"

        updates = _attempts_of(http, at, eventType=UPDATES_AVAILABLE)
        assert [a["attemptedAt"][11:19] for a in updates] == ["12:00:01", "12:00:00"]
        both = [UPDATES_AVAILABLE, NPN_ACTIVATED]
        assert len(_attempts_of(http, at, eventType=",".join(both))) == 4
        # Given once per type, as many clients send a list: the same.
        assert len(_attempts_of(http, at, eventType=both)) == 4
        window = {"since": "2026-06-01T13:00:00Z", "until": "2026-06-01T14:00:00Z"}
        in_window = _attempts_of(http, at, **window)
        assert [a["attemptedAt"][11:19] for a in in_window] == ["13:00:01", "13:00:00"]
        failed = _attempts_of(http, at, outcome="failed", **window)
        assert [a["attemptedAt"][11:19] for a in failed] == ["13:00:01"]
        # A date alone is its midnight (UTC): nothing on 2 June.
        assert _attempts_of(http, at, since="2026-06-02") == []
        # Paged through what the filters keep.
        first = _ok(
            http.get(f"{BASE}{at}/attempts", params={"eventType": UPDATES_AVAILABLE, "limit": 1})
        )
        rest = _attempts_of(http, at, eventType=UPDATES_AVAILABLE, before=first["nextBefore"])
        assert first["data"] + rest == updates

        message = updates[0]["messageId"]
        assert len(_attempts_of(http, f"/messages/{message}", outcome="succeeded")) == 1
        assert _attempts_of(http, f"/messages/{message}", until="2026-06-01T12:00:00Z") == []

        # Messages: by type (several), and by their creation time, which is now.
        typed = _messages(http, eventType=f"{UPDATES_AVAILABLE},{ENDPOINT_TEST}")
        assert sorted(m["eventType"] for m in typed) == sorted([UPDATES_AVAILABLE, ENDPOINT_TEST])
        now = dt.datetime.now(dt.UTC)
        assert _messages(http, until=(now - dt.timedelta(hours=1)).isoformat()) == []
        assert len(_messages(http, since=(now - dt.timedelta(hours=1)).isoformat())) == 3


def _paged(http: httpx2.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item the list at ``path`` gives, a page of one at a time through nextBefore."""
    read: list[dict[str, Any]] = []
    page = _ok(http.get(f"{BASE}{path}", params={**params, "limit": 1}))
    while True:
        read += page["data"]
        if page["nextBefore"] is None:
            return read
        paged = {**params, "limit": 1, "before": page["nextBefore"]}
        page = _ok(http.get(f"{BASE}{path}", params=paged))


def test_attempts_are_newest_first_by_their_start_and_paged_within_a_window(
    service: RunningService,
) -> None:
    """Numbered as recorded, attempts were listed by id: an attempt recorded after a later
    one came above it."""
    noon = dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC)
    with service.client(service.account()) as http:
        endpoint = _create(http)["id"]
        # Recorded in this order: 13:00:00-02, then 12:00:00-02.
        for start in (noon + dt.timedelta(hours=1), noon):
            log_attempts(service.engine, endpoint, [True, False, True], start=start)
        window = {"since": "2026-07-01T12:00:01Z", "until": "2026-07-01T13:00:01Z"}
        want = ["13:00:00", "12:00:02", "12:00:01"]
        for path in (
            f"/endpoints/{endpoint}",
            f"/messages/{_attempts_of(http, f'/endpoints/{endpoint}')[0]['messageId']}",
        ):
            paged = _paged(http, f"{path}/attempts", **window)
            assert [a["attemptedAt"][11:19] for a in paged] == want
        failed = _paged(http, f"/endpoints/{endpoint}/attempts", outcome="failed")
        assert [a["attemptedAt"][11:19] for a in failed] == ["13:00:01", "12:00:01"]

        # A cursor that is no attempt of the list: a 404 naming it, as for messages.
        other = service.account()
        with service.client(other) as theirs:
            their_endpoint = _create(theirs)["id"]
            log_attempts(service.engine, their_endpoint, [True])
            (their_attempt,) = _attempts_of(theirs, f"/endpoints/{their_endpoint}")
        for before in (their_attempt["id"], 2**40):
            response = http.get(f"{BASE}/endpoints/{endpoint}/attempts", params={"before": before})
            assert response.status_code == 404, response.text
            assert f"No webhook attempt {before} (parameter 'before')" in response.text


def test_a_message_s_deliveries_are_listed_a_page_at_a_time(service: RunningService) -> None:
    """A message's every delivery came only in its views, whole: one sent to thousands of
    endpoints, thousands in one answer. Its own list pages them by endpoint id, latest
    first, a cursor that outlives its endpoint, a limit refused as the other lists'."""
    creds = service.account()
    with service.client(creds) as http:
        made = [_create(http)["id"] for _ in range(3)]
        with write_transaction(service.engine) as conn:
            publish_events(conn, creds.account_id, [NpnActivated.create(EXAMPLE_NPN)])
        message = _messages(http)[0]
        path = f"/messages/{message['id']}/deliveries"
        every = _paged(http, path)
        assert [d["endpointId"] for d in every] == sorted(made, reverse=True)
        by_endpoint = {d["endpointId"]: d for d in message["deliveries"]}
        assert every == [by_endpoint[d["endpointId"]] for d in every]  # as the views show
        first = _ok(http.get(f"{BASE}{path}", params={"limit": 1}))
        assert first["data"] == every[:1]
        assert http.delete(f"{BASE}/endpoints/{every[0]['endpointId']}").status_code == 204
        rest = _ok(http.get(f"{BASE}{path}", params={"before": first["nextBefore"]}))
        assert rest == {"data": every[1:], "nextBefore": None}
        for limit in (0, 251):
            refused = http.get(f"{BASE}{path}", params={"limit": limit})
            assert refused.status_code == 400, refused.text
            assert f"Invalid value '{limit}' for parameter 'limit'" in refused.json()["message"]
        with service.client(service.account()) as other:
            assert other.get(f"{BASE}{path}").status_code == 404


def test_a_messages_attempts_page_on_after_the_endpoint_of_the_cursor_is_deleted(
    service: RunningService,
) -> None:
    """nextBefore was the id of a page's last attempt, looked up for the next page: once
    its endpoint was deleted (and its attempts with it), the next page was a 404 and a
    client paging a message's attempts lost its place."""
    creds = service.account()
    noon = dt.datetime(2026, 8, 1, 12, tzinfo=dt.UTC)
    with service.client(creds) as http:
        kept, dropped = _create(http)["id"], _create(http)["id"]
        with write_transaction(service.engine) as conn:
            publish_events(conn, creds.account_id, [NpnActivated.create(EXAMPLE_NPN)])
        # Oldest first: kept, dropped, kept, dropped, a second apart.
        for n, endpoint in enumerate((kept, dropped) * 2):
            start = noon + dt.timedelta(seconds=n)
            log_attempts(service.engine, endpoint, [n < 2], event_type=NPN_ACTIVATED, start=start)
        path = f"/messages/{_attempts_of(http, f'/endpoints/{kept}')[0]['messageId']}"
        every = _attempts_of(http, path)
        assert [a["endpointId"] for a in every] == [dropped, kept, dropped, kept]

        first = _ok(http.get(f"{BASE}{path}/attempts", params={"limit": 1}))
        assert first["data"] == every[:1]
        # A place past any time the spec's pattern allows: after every attempt.
        assert _attempts_of(http, path, before="pos_999999999999999999_1") == every
        # The cursor before, an attempt's id, still reads on while its attempt is listed.
        assert _attempts_of(http, path, before=every[0]["id"]) == every[1:]
        assert http.delete(f"{BASE}/endpoints/{dropped}").status_code == 204
        rest = _attempts_of(http, path, before=first["nextBefore"])
        assert rest == [a for a in every[1:] if a["endpointId"] == kept]
        # Then as before: an id no attempt of the list has is a 404 naming it.
        response = http.get(f"{BASE}{path}/attempts", params={"before": every[0]["id"]})
        assert response.status_code == 404, response.text
        assert f"No webhook attempt {every[0]['id']} (parameter 'before')" in response.text


_ATTEMPTS, _MESSAGES, _TRIES = "/endpoints/{ep}/attempts", "/messages", "/messages/{msg}/attempts"


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        (
            path,
            {"eventType": "producersync.bogus"},
            "Invalid value 'producersync.bogus' for parameter 'eventType': "
            "'producersync.bogus' is no event type; known types: producersync.npn.activated",
        )
        for path in (_ATTEMPTS, _MESSAGES)
    ]
    + [
        (
            _ATTEMPTS,
            {"eventType": f"{UPDATES_AVAILABLE},nope"},
            f"Invalid value '{UPDATES_AVAILABLE},nope' for parameter 'eventType': 'nope' is no",
        ),
        (_MESSAGES, {"eventType": ""}, "Invalid value '' for parameter 'eventType': an empty"),
        (_TRIES, {"outcome": "maybe"}, "Invalid value 'maybe' for parameter 'outcome'"),
        ("/endpoints", {"limit": "251"}, "Invalid value '251' for parameter 'limit'"),
        (
            "/endpoints",
            {"before": "ep-1"},
            "Invalid value 'ep-1' for parameter 'before': not a nextBefore of the endpoints'",
        ),
        ("/endpoints", {"before": "pos_0"}, "Invalid value 'pos_0' for parameter 'before'"),
        (
            "/endpoints",
            {"before": "pos_1000000000000000000"},
            "Invalid value 'pos_1000000000000000000' for parameter 'before'",
        ),
    ]
    + [
        (path, {"before": before}, f"Invalid value '{before}' for parameter 'before': {says}")
        for path in (_ATTEMPTS, _TRIES)
        for before, says in (
            ("pos_7", "not a nextBefore of the attempts' list"),  # an endpoints' nextBefore
            ("pos_1_2_3", "not a nextBefore of the attempts' list"),
            ("pos_1_0", "not a nextBefore of the attempts' list"),
            ("0", "not a nextBefore of the attempts' list"),
            ("12.0", "not a nextBefore of the attempts' list"),
        )
    ]
    + [
        case
        for path in (_ATTEMPTS, _MESSAGES, _TRIES)
        for case in (
            (path, {"since": "yesterday"}, "Invalid value 'yesterday' for parameter 'since'"),
            # Not Unix seconds, which pydantic's datetime would read.
            (path, {"until": "1700000000"}, "Invalid value '1700000000' for parameter 'until'"),
            (
                path,
                {"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00+02:00"},
                "Invalid value '2026-05-31T22:00:00Z' for parameter 'until': must be later "
                "than 'since' (2026-06-02T00:00:00Z)",
            ),
        )
    ],
)
def test_a_bad_filter_is_a_400_naming_the_parameter_and_value(
    service: RunningService, path: str, params: dict[str, str], says: str
) -> None:
    with service.client(service.account()) as http:
        endpoint = _create(http)["id"]
        message = _messages(http)[0]["id"]
        response = http.get(f"{BASE}{path.format(ep=endpoint, msg=message)}", params=params)
    assert response.status_code == 400, response.text
    error = response.json()
    assert set(error) == {"timestamp", "status", "error", "message", "path"}
    assert says in error["message"]
