"""`producersync admin endpoint` and `admin message`: webhook endpoints of any account,
and the messages sent to them, from the command line.

The rules are the API's (``delivery/management.py``) and ``--json`` prints the API's
shapes. This process has no dispatcher: what it queues (the test event on create, replay,
recover) is sent by the running service, whose dispatcher polls the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape

from producersync.cli.common import (
    DatabaseOption,
    Failed,
    JsonOption,
    console,
    emit,
    err_console,
    fail,
    json_text,
    print_table,
    service_settings,
)
from producersync.cli.errors import JsonErrorsCommand
from producersync.counted import counted
from producersync.service.api.paging import DEFAULT_PAGE, MAX_PAGE

# Here for their types only: the commands import the store and the API's models they
# use, as `admin --help` has no use for them.
if TYPE_CHECKING:
    import sqlalchemy as sa
    from pydantic import BaseModel

    from producersync.service.api.webhook_models import EndpointAttemptQuery, MessageQuery
    from producersync.service.settings import ServiceSettings
    from producersync.service.store import endpoints, outbox

__all__ = ["app", "message_app"]

app = typer.Typer(
    help="Webhook endpoints of an account.\n\nDeliveries queued here (the test event on "
    "create, replay, recover) are sent by the running service: its dispatcher finds them "
    "on its next poll (PRODUCERSYNC_WEBHOOK_POLL_SECONDS), since this command has none to "
    "wake. Endpoint URLs must be https on public addresses unless "
    "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS=true.",
    no_args_is_help=True,
)
message_app = typer.Typer(
    help="Webhook messages of an account: the events sent to its endpoints, each with its "
    "delivery state per endpoint (a message id is what `admin endpoint replay` takes).",
    no_args_is_help=True,
)

EndpointArg = Annotated[str, typer.Argument(help="The endpoint id (ep_...).")]
EventsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--events",
        help="An event type or group to receive (repeat for more); default: every type.",
        show_default=False,
    ),
]
UrlHelp = "Where to POST the events."
DescriptionOption = Annotated[
    str | None,
    typer.Option(
        "--description",
        help="What the endpoint is for, shown in the portal (at most 500 characters).",
        show_default=False,
    ),
]
RateLimitOption = Annotated[
    int | None,
    typer.Option("--rate-limit", help="Most attempts per second (1-10000).", show_default=False),
]


# The request body's fields (webhook_models, camelCase) as this command's options.
_OPTIONS = {
    "url": "--url",
    "description": "--description",
    "eventTypes": "--events",
    "rateLimitPerSecond": "--rate-limit",
    "reason": "--reason",
    "since": "--since",
    "until": "--until",
    "eventType": "--event-type",
    "outcome": "--outcome",
    "limit": "--limit",
    "before": "--before",
}
_SHOWN = 100  # characters of a refused value shown; a longer one is told by its length
_PRIVATE_HINT = " (PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS=true allows it, for local development)"
_Body = TypeVar("_Body", bound="BaseModel")


def _body(model: type[_Body], **fields: object) -> _Body:
    """The options as the API's request body ``model`` (keyed by its camelCase fields; None:
    not given), checked as the API checks it: a refusal is a usage error naming the
    option and the value, before the store is opened."""
    from pydantic import ValidationError

    from producersync.model.validation import reason
    from producersync.url_userinfo import masked

    try:
        return model.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        value = error.get("input")
        shown = repr(value) if len(str(value)) <= _SHOWN else f"{len(str(value)):,} characters"
        why = reason(error)
        option = _OPTIONS.get(field, field)
        raise fail(
            f"{option}: {why} (given: {masked(shown)})",
            2,
            field=option,
            value=_typed(fields.get(field)),
        ) from None


@contextmanager
def _write(
    database: str | None, **given: object
) -> Iterator[tuple[sa.Connection, ServiceSettings]]:
    """A write transaction on the store, with the settings the rules need; a rule's
    refusal is a usage error naming the option, with the rule's message, and the value
    ``given`` for it (keyed by the API's field names)."""
    from producersync.service.delivery import management
    from producersync.service.store.engine import write_transaction
    from producersync.service.store.open import open_store

    settings = service_settings(database)
    with write_transaction(open_store(settings.database_url)) as conn:
        try:
            yield conn, settings
        except management.EndpointRuleError as exc:
            option = _OPTIONS.get(exc.field, exc.field)
            value = _typed(given.get(exc.field))
            # The setting is the operator's, so the API and the portal do not name it, but
            # this command's user is the operator (a receiver on loopback is the local
            # integration's first step).
            hint = _PRIVATE_HINT if exc.private else ""
            raise fail(f"{option}: {exc}{hint}", 2, field=option, value=value) from None


def _typed(value: object) -> str | None:
    """An option's value as typed (a repeated option's, comma-joined), a URL's
    credentials masked; None for one not given."""
    from producersync.url_userinfo import masked

    if value is None:
        return None
    if isinstance(value, list | tuple):
        return masked(",".join(str(v) for v in value))
    return masked(str(value))


def _gone(endpoint_id: str) -> Failed:
    return fail(f"no endpoint {endpoint_id!r}")


def _endpoint(conn: sa.Connection, endpoint_id: str, *, lock: bool = False) -> endpoints.Endpoint:
    """The endpoint, or a failure naming it; ``lock``: its row locked to the end of the
    transaction (``_on_endpoint``)."""
    from producersync.service.store import endpoints

    endpoint = endpoints.get_endpoint(conn, None, endpoint_id, lock=lock)
    if endpoint is None:
        raise _gone(endpoint_id)
    return endpoint


@contextmanager
def _on_endpoint(
    database: str | None, endpoint_id: str, **given: object
) -> Iterator[tuple[sa.Connection, ServiceSettings, endpoints.Endpoint]]:
    """``_write``'s transaction, with the endpoint looked up locked, as the API's changes
    (``api/webhooks.py``) do, for a change that adds rows naming it or changes its
    deliveries or secrets. On PostgreSQL, an endpoint deleted after an unlocked look-up
    failed the foreign key of a row added (a traceback), or took the rows to change with
    it (recover said 'queued: 0'); locked, the look-up waits for the DELETE and finds no
    endpoint. The changes of the endpoint's own row alone (update, enable, disable,
    delete) need none: their UPDATE or DELETE waits for it, and finds no row."""
    with _write(database, **given) as (conn, settings):
        yield conn, settings, _endpoint(conn, endpoint_id, lock=True)


def _view(
    conn: sa.Connection, endpoint: endpoints.Endpoint, names: Mapping[int, str] | None = None
) -> dict[str, object]:
    """The endpoint as the API shows it, with its account named as ``--account`` takes it
    (from ``names``, by account id, when a list has read them all at once)."""
    from producersync.service.api.webhook_models import WebhookEndpoint
    from producersync.service.store import accounts

    view = WebhookEndpoint.of(endpoint).model_dump(mode="json")
    if names is not None:
        return {**view, "account": names[endpoint.account_id]}
    return {**view, "account": accounts.account_name(conn, endpoint.account_id)}


# No filter, as the portal says it (macros.html): the dash that stands for nothing in a
# text output read as an endpoint that gets no event at all.
_EVERY_TYPE = "all event types"


def _for_people(view: dict[str, object]) -> dict[str, object]:
    """An endpoint's view as the text output shows it; the JSON output keeps the API's
    shape (``eventTypes`` null)."""
    if view.get("eventTypes") is None:
        return {**view, "eventTypes": _EVERY_TYPE}
    return view


def _emit_endpoint(as_json: bool, view: dict[str, object]) -> None:
    emit(as_json, view if as_json else _for_people(view))


def _table(as_json: bool, rows: list[dict[str, object]], columns: list[str]) -> None:
    if as_json:
        typer.echo(json_text(rows))
    else:
        print_table(columns, rows)


@app.command("create", cls=JsonErrorsCommand)
def create(
    account: Annotated[str, typer.Option("--account", help="Account name.")],
    url: Annotated[str, typer.Option("--url", help=UrlHelp)],
    events: EventsOption = None,
    description: DescriptionOption = None,
    rate_limit: RateLimitOption = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an endpoint and queue its test event; prints its signing secret."""
    from producersync.service.api.webhook_models import EndpointCreate
    from producersync.service.delivery import management
    from producersync.service.store import accounts, endpoints

    body = _body(
        EndpointCreate,
        url=url,
        description=description,
        eventTypes=events,
        rateLimitPerSecond=rate_limit,
    )
    given = {"url": url, "eventTypes": events, "rateLimitPerSecond": rate_limit}
    with _write(database, **given) as (conn, settings):
        try:
            owner = accounts.find_account(conn, account)
        except accounts.NotFound as exc:
            raise fail(str(exc)) from None
        endpoint, secret = management.create_endpoint(
            conn,
            settings,
            owner.id,
            body.url,
            description=body.description,
            event_types=body.event_types,
            rate_limit_per_second=body.rate_limit_per_second,
        )
        view = _view(conn, endpoint)
        twins = [
            other.id
            for other in endpoints.list_endpoints(conn, owner.id)
            if other.url == endpoint.url and other.id != endpoint.id
        ]
    _emit_endpoint(as_json, {**view, "secret": secret})
    if twins:
        # Allowed, as Svix allows it (two filters to one receiver), but most often a
        # provisioning script run twice: every event then goes out twice, signed with two
        # secrets, and a receiver given one answers the other endpoint 401 for 5 days.
        err_console.print(
            f"[yellow]warning:[/yellow] account {escape(account)} has "
            f"{counted(len(twins), 'other endpoint')} at this URL ({', '.join(twins)}): each "
            "event goes to every one, signed with each one's secret; if this one was not "
            f"meant, `producersync admin endpoint delete {endpoint.id}`",
            highlight=False,
        )


@app.command("list", cls=JsonErrorsCommand)
def list_(
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List endpoints, newest first, as the API does (never their secrets)."""
    from producersync.service.store import accounts, endpoints
    from producersync.service.store.open import open_store

    settings = service_settings(database)
    with open_store(settings.database_url).connect() as conn:
        try:
            owner = accounts.find_account(conn, account).id if account else None
        except accounts.NotFound as exc:
            raise fail(str(exc)) from None
        names = {a.id: a.name for a in accounts.list_accounts(conn)}
        rows = [_view(conn, e, names) for e in endpoints.list_endpoints(conn, owner)]
    if not as_json:
        rows = [_for_people(row) for row in rows]
    _table(as_json, rows, ["id", "account", "url", "eventTypes", "enabled", "disabledReason"])


@app.command("update", cls=JsonErrorsCommand)
def update(
    endpoint_id: EndpointArg,
    url: Annotated[str | None, typer.Option("--url", help=UrlHelp, show_default=False)] = None,
    events: EventsOption = None,
    all_events: Annotated[
        bool, typer.Option("--all-events", help="Receive every event type.")
    ] = False,
    description: DescriptionOption = None,
    rate_limit: RateLimitOption = None,
    no_rate_limit: Annotated[
        bool, typer.Option("--no-rate-limit", help="Remove the rate limit.")
    ] = False,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change an endpoint; what is not given stays as it is."""
    from producersync.service.api.webhook_models import EndpointPatch
    from producersync.service.delivery import management
    from producersync.service.store import endpoints

    if events and all_events:
        raise fail("give --events or --all-events, not both", 2)
    if rate_limit is not None and no_rate_limit:
        raise fail("give --rate-limit or --no-rate-limit, not both", 2)
    body = _body(
        EndpointPatch,
        url=url,
        description=description,
        eventTypes=events,
        rateLimitPerSecond=rate_limit,
    )
    changes = endpoints.EndpointChanges(
        url=body.url,
        description=body.description,
        event_types=body.event_types,
        all_event_types=all_events,
        rate_limit_per_second=body.rate_limit_per_second,
        no_rate_limit=no_rate_limit,
    )
    given = {"url": url, "eventTypes": events, "rateLimitPerSecond": rate_limit}
    with _write(database, **given) as (conn, settings):
        endpoint = management.update_endpoint(conn, settings, None, endpoint_id, changes)
        if endpoint is None:
            raise _gone(endpoint_id)
        view = _view(conn, endpoint)
    _emit_endpoint(as_json, view)


def _set_state(
    database: str | None,
    endpoint_id: str,
    as_json: bool,
    change: Callable[[sa.Connection, str], endpoints.Endpoint | None],
) -> None:
    with _write(database) as (conn, _settings):
        endpoint = change(conn, endpoint_id)
        if endpoint is None:
            raise _gone(endpoint_id)
        view = _view(conn, endpoint)
    _emit_endpoint(as_json, view)


@app.command("disable", cls=JsonErrorsCommand)
def disable(
    endpoint_id: EndpointArg,
    reason: Annotated[str, typer.Option("--reason")] = "disabled by an administrator",
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop sending to an endpoint; its deliveries wait until it is enabled."""
    from producersync.service.api.webhook_models import EndpointDisable
    from producersync.service.store import endpoints

    checked = _body(EndpointDisable, reason=reason).reason
    _set_state(
        database,
        endpoint_id,
        as_json,
        lambda conn, ep: endpoints.disable_endpoint(conn, None, ep, checked),
    )


@app.command("enable", cls=JsonErrorsCommand)
def enable(
    endpoint_id: EndpointArg, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Send to an endpoint again (its waiting deliveries go on the service's next poll)."""
    from producersync.service.store import endpoints

    _set_state(
        database, endpoint_id, as_json, lambda conn, ep: endpoints.enable_endpoint(conn, None, ep)
    )


@app.command("delete", cls=JsonErrorsCommand)
def delete(
    endpoint_id: EndpointArg, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Delete an endpoint, its secrets and its deliveries."""
    from producersync.service.store import endpoints

    with _write(database) as (conn, _settings):
        if not endpoints.delete_endpoint(conn, None, endpoint_id):
            raise _gone(endpoint_id)
    if as_json:
        emit(True, {"id": endpoint_id, "deleted": True})
    else:
        console.print(f"endpoint [bold]{endpoint_id}[/bold] deleted")


@app.command("rotate-secret", cls=JsonErrorsCommand)
def rotate_secret(
    endpoint_id: EndpointArg, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Issue a new signing secret and print it; the old one keeps signing beside it for
    PRODUCERSYNC_WEBHOOK_SECRET_GRACE_SECONDS (default 24 h)."""
    from producersync.service.delivery import management

    with _on_endpoint(database, endpoint_id) as (conn, settings, endpoint):
        secret = management.rotate_secret(conn, settings, endpoint.id)
    emit(as_json, {"id": endpoint.id, "secret": secret})


@app.command("show-secret", cls=JsonErrorsCommand)
def show_secret(
    endpoint_id: EndpointArg, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Print an endpoint's current signing secret."""
    from producersync.service.store import endpoints

    with _write(database) as (conn, _settings):
        endpoint = _endpoint(conn, endpoint_id)
        secret = endpoints.current_secret(conn, endpoint.id)
    if secret is None:
        # Every endpoint has one until it is deleted, as between the two reads.
        raise _gone(endpoint_id)
    emit(as_json, {"id": endpoint.id, "secret": secret})


@app.command("replay", cls=JsonErrorsCommand)
def replay(
    endpoint_id: EndpointArg,
    message_id: Annotated[str, typer.Argument(help="The message (event) id (evt_...).")],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue one manual attempt of a message of the endpoint's account to the endpoint
    (to a disabled one, it waits until the endpoint is enabled: the output says so)."""
    from producersync.service.delivery import management

    with _on_endpoint(database, endpoint_id) as (conn, settings, endpoint):
        try:
            delivery_id = management.replay(conn, endpoint, message_id)
        except management.PayloadExpired:
            days = settings.payload_retention_days
            raise fail(
                f"the payload of message {message_id!r} expired (payloads are kept {days} "
                "days): it cannot be sent again"
            ) from None
        if delivery_id is None:
            raise fail(f"the endpoint's account has no message {message_id!r}")
    _emit_queued(as_json, {"deliveryId": delivery_id}, endpoint)


def _emit_queued(as_json: bool, values: dict[str, object], endpoint: endpoints.Endpoint) -> None:
    """What replay or recover queued, and whether it waits, as the API's answer says
    (``waitsUntilEnabled``), with a line for people that says what to do."""
    emit(as_json, {**values, "waitsUntilEnabled": not endpoint.enabled})
    if not as_json and not endpoint.enabled:
        console.print(
            f"The endpoint is disabled: this waits until it is enabled again "
            f"(producersync admin endpoint enable {endpoint.id}).",
            highlight=False,
            markup=False,
        )


_Listed = TypeVar("_Listed", "EndpointAttemptQuery", "MessageQuery")


def _list_query(
    model: type[_Listed],
    event_types: list[str] | None,
    until: str | None,
    **options: str | None,
) -> tuple[_Listed, outbox.LogFilter]:
    """A list's options as the API's query ``model`` checks them, and its filter for the
    store; a usage error for a window that ends where it starts, or before, as the
    API's 400."""
    query = _body(
        model, eventType=",".join(event_types) if event_types else None, until=until, **options
    )
    refused = query.until_refused("--since")
    if refused is not None:
        raise fail(f"--until: {refused[1]} (given: {until!r})", 2, field="--until", value=until)
    return query, query.narrowed(query.event_types)


_TIME = "an ISO 8601 date or date-time (a date is its midnight; UTC unless it names its offset)"


# The filters of the API's lists, as the options of the commands that list the same.
def _limit(listed: str) -> Any:
    # The API's page size, checked by its query model: the CLI lists what a page holds.
    return typer.Option(
        "--limit",
        metavar="N",
        help=f"Most {listed} to list (1-{MAX_PAGE}; default {DEFAULT_PAGE}).",
        show_default=False,
    )


def _event_types(listed: str) -> Any:
    return typer.Option(
        "--event-type",
        help=f"Only {listed} of this event type (repeat, or comma-separate, for any of several).",
        show_default=False,
    )


def _since(listed: str) -> Any:
    return typer.Option(
        "--since", help=f"Only {listed} from this time on: {_TIME}.", show_default=False
    )


def _until(listed: str) -> Any:
    return typer.Option(
        "--until",
        help=f"Only {listed} before this time (not included; later than --since): {_TIME}.",
        show_default=False,
    )


@app.command("recover", cls=JsonErrorsCommand)
def recover(
    endpoint_id: EndpointArg,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help=f"Of the messages created from this time on, at most 14 days ago: {_TIME}.",
            show_default=False,
        ),
    ],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue one more attempt of the endpoint's deliveries that failed for good, of the
    messages created since --since (to a disabled endpoint, they wait until it is enabled:
    the output says so)."""
    from producersync.service.api.webhook_models import RecoverRequest
    from producersync.service.delivery import management

    # Read by the API's own body, as attempts reads its filters: the same forms, and a
    # refusal in the same words.
    body = _body(RecoverRequest, since=since)
    with _on_endpoint(database, endpoint_id, since=since) as (conn, _settings, endpoint):
        queued = management.recover(conn, endpoint, body.since)
    _emit_queued(as_json, {"queued": queued}, endpoint)


@app.command("attempts", cls=JsonErrorsCommand)
def attempts(
    endpoint_id: EndpointArg,
    limit: Annotated[str | None, _limit("attempts")] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="ATTEMPT_ID",
            help="Only attempts older than this one: the last id of the list before, for "
            "the next page (or the API's nextBefore of a page of this endpoint's attempts).",
            show_default=False,
        ),
    ] = None,
    event_types: Annotated[list[str] | None, _event_types("attempts of messages")] = None,
    since: Annotated[str | None, _since("attempts made")] = None,
    until: Annotated[str | None, _until("attempts made")] = None,
    outcome: Annotated[
        str | None,
        typer.Option(
            "--outcome",
            metavar="succeeded|failed",
            help="Only the attempts that succeeded (2xx), or only those that failed.",
            show_default=False,
        ),
    ] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the latest attempts to an endpoint, newest first by their start; filtered as
    the API's list is, each filter checked as the API checks its parameter; --before
    reads on from the last one listed."""
    from producersync.service.api.webhook_models import EndpointAttemptQuery, WebhookAttempt
    from producersync.service.store import outbox
    from producersync.service.store.open import open_store

    query, narrowed = _list_query(
        EndpointAttemptQuery,
        event_types,
        until,
        limit=limit,
        before=before,
        since=since,
        outcome=outcome,
    )
    settings = service_settings(database)
    with open_store(settings.database_url).connect() as conn:
        endpoint = _endpoint(conn, endpoint_id)
        try:
            rows = outbox.list_attempts(
                conn,
                endpoint_id=endpoint.id,
                limit=query.limit,
                before=query.before,
                succeeded=query.succeeded,
                narrowed=narrowed,
            )
        except outbox.UnknownCursor:
            message = f"--before: no attempt {query.before} to endpoint {endpoint.id}"
            raise fail(message, field="--before", value=before) from None
    _table(
        as_json,
        [WebhookAttempt.of(a).model_dump(mode="json") for a in rows],
        ["id", "messageId", "attemptNumber", "trigger", "attemptedAt", "statusCode", "error"],
    )


@message_app.command("list", cls=JsonErrorsCommand)
def message_list(
    account: Annotated[str, typer.Option("--account", help="Account name.")],
    limit: Annotated[str | None, _limit("messages")] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="MESSAGE_ID",
            help="Only the messages older than this one: to page, the last id listed.",
            show_default=False,
        ),
    ] = None,
    event_types: Annotated[list[str] | None, _event_types("messages")] = None,
    since: Annotated[str | None, _since("messages created")] = None,
    until: Annotated[str | None, _until("messages created")] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List an account's messages, newest first, with their delivery state per endpoint;
    filtered as the API's list is, each filter checked as the API checks its parameter."""
    from producersync.service.api.webhook_models import MessageQuery, message_json
    from producersync.service.store import accounts, outbox
    from producersync.service.store.open import open_store

    query, narrowed = _list_query(
        MessageQuery, event_types, until, limit=limit, before=before, since=since
    )
    settings = service_settings(database)
    with open_store(settings.database_url).connect() as conn:
        try:
            owner = accounts.find_account(conn, account)
        except accounts.NotFound as exc:
            raise fail(str(exc)) from None
        after = None
        if query.before is not None:
            after = outbox.get_message(conn, owner.id, query.before)
            if after is None:
                raise fail(
                    f"--before: the account has no message {query.before!r}",
                    field="--before",
                    value=before,
                )
        rows = outbox.list_messages(
            conn, owner.id, limit=query.limit, before=after, narrowed=narrowed
        )
        deliveries = outbox.deliveries_of(conn, [m.id for m in rows])
    shown = [message_json(m, deliveries.get(m.id, [])) for m in rows]
    if not as_json:  # each endpoint's state and the attempts made, not their JSON
        for row in shown:
            row["deliveries"] = ", ".join(
                f"{d['endpointId']} {d['state']} ({d['attempts']})" for d in row["deliveries"]
            )
    _table(as_json, shown, ["id", "eventType", "createdAt", "deliveries"])
