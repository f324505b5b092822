"""`producersync sync`: run the sync service, and look after its mirror by hand.

Every command reads its settings from the environment (``PRODUCERSYNC_*``, see
``SyncSettings``). ``run`` serves the receiver with DBOS; ``now`` and ``backfill`` pull in
this process (idempotent upserts, so running beside the service is safe); ``replay``
hands a recorded event back to the service's workflows through DBOS.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from producersync.cli.common import (
    AfterOption,
    JsonOption,
    LimitOption,
    LogFormatOption,
    LogLevelOption,
    SinceOption,
    api_problem,
    change_json,
    console,
    emit,
    err_console,
    fail,
    iso_date,
    json_text,
    logged_settings_from,
    naming_the_mirror,
    print_fields,
    read_mirror,
    serve,
    settings_from,
    terminated_as_interrupted,
    time_text,
    whole_number,
)
from producersync.cli.errors import JsonErrorsCommand, unanswered
from producersync.counted import counted
from producersync.gc_tuning import pause_gc, tune_gc

# Here for their types only: each command imports what it runs (the mirror, the API
# client, DBOS, the receiver), as `sync status` has no use for the receiver, nor `sync
# --help` for any of them.
if TYPE_CHECKING:
    import sqlalchemy as sa
    from dbos import DBOSClient, WorkflowHandle
    from starlette.applications import Starlette

    from producersync.client import Client, ProducerSyncError
    from producersync.sync import mirror
    from producersync.sync.pull import PageFn, PageResult, Puller, Stream
    from producersync.sync.settings import SyncSettings
    from producersync.sync.verify import Comparison

app = typer.Typer(help="Keep a local mirror current with ProducerSync.", no_args_is_help=True)
_DEFAULT_WAIT = 600  # seconds; a longer run (a large population's updates) takes --timeout
_MAX_WAIT = 86_400
# Between two looks at a replayed workflow's status: DBOS's own wait for a result, a
# second, answered up to a second after the workflow had ended.
_POLL_SECONDS = 0.1
_UNFINISHED = frozenset({"ENQUEUED", "DELAYED", "PENDING"})  # DBOS's not ended yet


@app.command()
def run(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Interface (default $PRODUCERSYNC_SYNC_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="TCP port (default $PRODUCERSYNC_SYNC_PORT or 8400)."),
    ] = None,
    executor_id: Annotated[
        str | None,
        # A panel of its own, as a table as wide as it needs: in the options' table the
        # help's column leaves no room at 80 columns for its variable's name whole.
        typer.Option(
            rich_help_panel="Recovery",
            help="DBOS executor id: a process restarted with the same id resumes the sync it "
            "was killed in; one a live process holds is refused (default "
            "$PRODUCERSYNC_SYNC_EXECUTOR_ID or <hostname>:<port>).",
        ),
    ] = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Receive the webhooks and keep the mirror current (DBOS workflows)."""
    pause_gc()  # until the app's start tunes it
    from producersync.cli.system_database import reach_system_database
    from producersync.sync.app import create_app, executor_lock
    from producersync.sync.receiver import refused
    from producersync.sync.settings import SyncSettings

    options = {
        "host": host,
        "port": port,
        "executor_id": executor_id,
        "log_level": log_level,
        "log_format": log_format,
    }
    settings = logged_settings_from(SyncSettings, ctx, options)
    api = "sync run calls the API"
    settings.require(
        {
            "webhook_secrets": "sync run verifies every webhook with them",
            "client_id": api,
            "client_secret": api,
        }
    )
    settings.refuse_plain_http()  # before the mirror is made: its client is built later
    reach_system_database(settings.dbos_system_database_url, SyncSettings, settings.mirror_url)

    def make_app() -> Starlette:
        lock = executor_lock(settings)
        # The app opens the mirror, and reads its hooks' cursors there, as it is made.
        with naming_the_mirror(settings.mirror_url):
            made = create_app(settings, lock=lock)
        # Before uvicorn starts the app, whose DBOS recovers this id's workflows: a process
        # refused it (ExecutorTaken) exits with one line and code 2, not a traceback.
        lock.take(settings.executor_lock_wait_seconds)
        # Once what is local is known good (the settings, the databases, the port): the
        # API is the one to blame only when they are.
        _check_credentials(settings)
        return made

    serve(make_app, settings, refused)


# The one attempt of ``_ask_the_api``: an API that does not answer holds the command this
# long at most.
CREDENTIALS_CHECK_SECONDS = 10.0


def _ask_the_api(client: Client) -> ProducerSyncError | None:
    """Ask the API once what a sync asks first, the population's first page, so that a
    client it refuses (the credentials, or their scope) raises before a command serves or
    records a run; the error of an API out of reach or failing is returned, None if it
    answered.

    Refused, ``sync run`` started and said nothing until the next webhook's sync failed,
    hours later (a secret mistyped at the restart after a rotation went unseen until
    then), and ``sync now`` and ``backfill`` recorded a failed run: a backfill's stayed
    among ``failedRuns`` until another backfill succeeded."""
    from producersync.client import AuthenticationError, PermissionDeniedError, ProducerSyncError

    try:
        client.subscriptions.page(0, max_retries=0, deadline=CREDENTIALS_CHECK_SECONDS)
    except (AuthenticationError, PermissionDeniedError):
        raise
    except ProducerSyncError as exc:
        return exc
    return None


def _check_credentials(settings: SyncSettings) -> None:
    """``sync run``'s ``_ask_the_api``, before it serves or runs a workflow: refused, it
    stops (exit 1, the line ``sync now`` tells), as every sync it would run fails so. The
    API out of reach or failing is a warning, and the start goes on: the receiver records
    deliveries meanwhile, and their syncs run once the API is back."""
    with settings.client() as client:
        failed = _ask_the_api(client)
    if failed is not None:
        _run_log.warning(
            "%s; starting anyway: each sync fails until it answers", api_problem(failed)
        )


_run_log = logging.getLogger("producersync.sync")


@app.command(cls=JsonErrorsCommand)
def status(as_json: JsonOption = False) -> None:
    """The mirror's state: its counts, how current it is, its last run and failures.

    Counts per resource, the last synced runDate, the NIPR run the mirror holds as of
    (that runDate, or before any, the day before its first complete fetch of NPNs), the
    latest one it could hold and the run days it lacks, the last run (running,
    interrupted, restarted, failed or succeeded), the failures (the latest three not made
    up for, each with its error), the NPNs whose records are still being fetched, and
    the fields of stored records their typed columns could not hold."""
    from producersync.sync import mirror
    from producersync.sync.settings import SyncSettings

    engine = read_mirror(settings_from(SyncSettings).mirror_url)
    with engine.connect() as conn:
        values = mirror.sync_status(conn)
    engine.dispose()
    if as_json:
        emit(True, values)
    else:
        print_fields(values)


def _past_date(value: str) -> dt.date:
    """A ``--since`` date, today at the latest (UTC): a pull from a day to come finds
    nothing, yet would be recorded as having synced the days before it."""
    day = iso_date(value)
    today = dt.datetime.now(dt.UTC).date()
    if day > today:
        raise typer.BadParameter(f"{value!r} is in the future (today is {today}, UTC)")
    return day


@app.command()
def now(
    ctx: typer.Context,
    since: Annotated[
        dt.date | None,
        typer.Option(
            parser=_past_date,
            help="Pull records updated on or after this date, today at the latest (default: "
            "the last synced runDate or, before any, the day before the first fetch); the "
            "last synced runDate moves only if no day is left out.",
        ),
    ] = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Pull every resource updated since a date, now, in this process.

    Refused while another `sync now` or `sync backfill` is running on the mirror.
    """
    from producersync.sync.pull import streams

    with terminated_as_interrupted():
        settings = _logged_settings(ctx, log_level, log_format)
        with _puller(settings) as (puller, _):
            last = puller.last_synced()
            start = since or puller.sync_start()
            if start is None:
                raise fail("nothing synced yet: give --since, or run `producersync sync backfill`")
            yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
            through = synced_through(start, last, yesterday)
            todo = streams(since=start)
            _pull_with_progress(puller, "manual", todo, start, through, settings.pull_concurrency)
        if through is None:
            console.print(
                f"the last synced runDate stays {last}: the days from it to {start} were not pulled"
            )


def synced_through(since: dt.date, last: dt.date | None, yesterday: dt.date) -> dt.date | None:
    """The runDate a complete pull from ``since`` has synced through: yesterday, when it
    started at the last synced runDate or before (or nothing was synced yet); None when
    it started later, since the days between were not pulled, and catch-up would never
    pull them once the last synced runDate had passed them."""
    return yesterday if last is None or since <= last else None


@app.command()
def backfill(
    ctx: typer.Context, log_level: LogLevelOption = None, log_format: LogFormatOption = None
) -> None:
    """Pull the whole monitored population, every resource, in bulk pages.

    Refused while another `sync now` or `sync backfill` is running on the mirror.
    """
    from producersync.sync import mirror
    from producersync.sync.pull import streams

    with terminated_as_interrupted():
        settings = _logged_settings(ctx, log_level, log_format)
        with _puller(settings) as (puller, engine):

            def activate_population(run_id: int) -> None:
                # Each NPN from its own activation, covered by this run, as a pass of
                # `sync run` marks them. Activated "now", a removal delivered between
                # the list's read and this write lost to it (the NPN stayed active,
                # unsubscribed); not marked, every NPN stayed owed, and the sync service
                # fetched the whole population again for the events that came after.
                listed = puller.population()
                with mirror.write_transaction(engine) as conn:
                    mirror.activate_listed(conn, listed, run_id)

            # Every record of every NPN: synced through yesterday, as `sync now` records,
            # so that `sync now` and catch-up have a day to start from.
            yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
            _pull_with_progress(
                puller,
                "backfill",
                streams(),
                None,
                yesterday,
                settings.pull_concurrency,
                first=activate_population,
            )


def _wait_seconds(value: str) -> int:
    """A ``--timeout``: whole seconds, 1 to ``_MAX_WAIT``, the value shown when refused."""
    return whole_number(value, _MAX_WAIT, " of seconds")


def _event_id(value: str) -> str:
    """An EVENT_ID that can be one: one that cannot (empty, a shell variable unset; with
    a space; past 256 characters) would be looked for, not found, and told as a failure
    (exit 1), where it is the command's input that is wrong."""
    from producersync.model.events import event_id_fault

    if fault := event_id_fault(value):
        shown = value if len(value) <= 60 else f"{value[:60]}..."
        raise typer.BadParameter(
            f"{shown!r}: {fault}; give the id of a recorded event (its webhook-id)"
        )
    return value


@app.command()
def replay(
    event_id: Annotated[
        str,
        typer.Argument(
            parser=_event_id, metavar="EVENT_ID", help="The id of a recorded, accepted event."
        ),
    ],
    wait: Annotated[bool, typer.Option(help="Wait until the sync service has run it.")] = False,
    timeout: Annotated[
        int | None,
        typer.Option(
            parser=_wait_seconds,
            metavar="SECONDS",
            help=f"With --wait, give up after this long (default {_DEFAULT_WAIT}, at most "
            f"{_MAX_WAIT}); the workflow stays queued.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a recorded event's workflow again (the running sync service picks it up)."""
    from dbos import DBOSClient

    from producersync.sync import mirror
    from producersync.sync.settings import SyncSettings
    from producersync.sync.workflows import APP_NAME, by_name

    if timeout is not None and not wait:
        # Quoted as click quotes the options it names itself.
        raise typer.BadParameter(f"'{timeout}' given without --wait", param_hint="'--timeout'")
    settings = settings_from(SyncSettings)
    # Only a mirror that is there holds the event, and only a known event needs DBOS:
    # a mirror at a mistyped path would be made (empty, a DBOS database beside it) before
    # the event is found missing from it.
    engine = read_mirror(settings.mirror_url, settings.mirror_pool_size)
    with contextlib.ExitStack() as stack:
        stack.callback(engine.dispose)
        with engine.connect() as conn:
            body = mirror.receipt_body(conn, event_id)
            latest = None if body is not None else mirror.latest_verdict(conn, event_id)
        name, args = _replayed(event_id, body, latest)
        client = DBOSClient(
            system_database_url=settings.system_database_url(), application_name=APP_NAME
        )
        stack.callback(client.destroy)
        _ready_to_queue(client)
        with mirror.write_transaction(engine) as conn:
            # Owed again: an activation is found by the collector as unprocessed.
            mirror.mark_all_processed(conn, [event_id], None)
        workflow_id = f"replay-{event_id}-{uuid.uuid4().hex[:8]}"
        handle: WorkflowHandle[object] = client.enqueue(by_name(name, workflow_id), *args)
        console.print(f"queued [bold]{handle.workflow_id}[/bold]")
        if wait:
            _wait_for(handle, _DEFAULT_WAIT if timeout is None else timeout)
            console.print("done")


def _ready_to_queue(client: DBOSClient) -> None:
    """Refuse before the event is marked owed again when nothing could queue its
    workflow: a sync service that never ran left the DBOS system database without its
    tables, and the replay failed there, the event unprocessed for good."""
    import sqlalchemy as sa

    try:
        client.list_workflows(limit=1, load_input=False, load_output=False)
    except sa.exc.DBAPIError as exc:
        # SQLite says so only in words; PostgreSQL by its code for an undefined table.
        missing = "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", "") == "42P01"
        if not missing:
            raise  # out of reach: the one line main() gives every database error
        raise fail(
            "no sync service has run on this mirror's DBOS system database yet (it has no "
            "tables): start `producersync sync run` once, then replay"
        ) from None


def _wait_for(handle: WorkflowHandle[object], timeout: int) -> None:
    """Until the workflow has ended, for ``timeout`` seconds at most: with no sync service
    running, nothing takes it from its queue, and DBOS's own wait never ends."""
    console.print(
        f"waiting for the sync service to pick it up and run it (at most {timeout} s)",
        highlight=False,
    )
    deadline = time.monotonic() + timeout
    status = handle.get_status()
    while status.status in _UNFINISHED:
        left = deadline - time.monotonic()
        if left <= 0:
            raise fail(_unfinished(handle.workflow_id, status.status, timeout))
        time.sleep(min(_POLL_SECONDS, left))
        status = handle.get_status()
    if status.status != "SUCCESS":
        why = "" if status.error is None else f": {status.error}"
        raise fail(f"{handle.workflow_id} ended {status.status}{why}")


def _unfinished(workflow_id: str, status: str, timeout: int) -> str:
    if status == "PENDING":
        return f"{workflow_id} is still running after {timeout} s (the sync service has it)"
    return (
        f"no sync service picked up {workflow_id} within {timeout} s: it stays queued, "
        "and runs once `producersync sync run` is running"
    )


def _replayed(
    event_id: str, body: bytes | None, latest: tuple[str, dt.datetime] | None
) -> tuple[str, tuple[str, ...]]:
    """The workflow (its name and arguments) replaying the event recorded with ``body``;
    an event that cannot be replayed is refused before anything is changed, with the
    verdict of the ``latest`` delivery that claimed its id, if one did (a 401's reason:
    what an operator replaying a rejected delivery is after)."""
    from producersync.sync.workflows import event_call
    from producersync.webhooks import WebhookVerificationError, parse_event

    if body is None:
        told = f"no accepted event {event_id!r} in the mirror's receipts"
        if latest is not None:
            verdict, at = latest
            told += f"; its latest delivery, at {time_text(at)}, was {verdict}"
        raise fail(told)
    try:
        call = event_call(parse_event(body))
    except WebhookVerificationError as exc:
        raise fail(f"the recorded body of {event_id!r} is not an event: {exc}") from exc
    if call is None:
        raise fail(f"{event_id!r} needs no work (an endpoint test)")
    return call


@app.command(cls=JsonErrorsCommand)
def changes(
    since: SinceOption,
    limit: LimitOption = None,
    after: AfterOption = None,
    as_json: JsonOption = False,
) -> None:
    """Changes the mirror recorded since a time, in feed order (by id), a line each: its
    id, time, action, resource, record id, npn= and the fields changed.

    To page: --limit N, then the same --since with --after the last id read.
    With --json, one JSON object a line, keyed as report changes' (camelCase).
    """
    from producersync.sync import mirror
    from producersync.sync.settings import SyncSettings

    engine = read_mirror(settings_from(SyncSettings).mirror_url)
    written = 0
    try:
        with engine.connect() as conn:
            # Each change written as it is read: the whole feed in a list first held
            # hundreds of MB, and a reader's first line waited for the last.
            for change in mirror.iter_changes(conn, since, after=after, limit=limit):
                sys.stdout.write(_change_line(change, as_json))
                written += 1
    finally:
        engine.dispose()
    if not written and not as_json:
        # On stderr: stdout stays a line per change, for the scripts reading it.
        err_console.print(f"no change since {time_text(since)}", highlight=False)


def _change_line(change: mirror.Change, as_json: bool) -> str:
    """A change as ``sync changes`` prints it. Plain, not through Rich, which wraps at 80
    columns off a terminal and reads [..] as markup. The id first: it is what --after
    takes, and a line without it could not be paged from. The fields are one word, joined
    by commas alone: with ", " an insert's were a dozen words, and the line's seventh was
    the first field rather than them all."""
    if as_json:
        return json_text(change_json(change)) + "\n"
    return (
        f"{change.id} {time_text(change.changed_at)} {change.action} {change.resource} "
        f"{change.record_id} npn={change.npn} {','.join(change.fields)}".rstrip()
        + "\n"
    )


@app.command(cls=JsonErrorsCommand)
def verify(as_json: JsonOption = False) -> None:
    """Compare the mirror with what the API serves for the population, record by record.

    With PRODUCERSYNC_PURGE_DEACTIVATED, a record of an NPN not subscribed is a difference
    too. Exits 0 when they are equal, 1 when they are not (the first differences listed),
    2 for bad settings and 3 when it cannot compare (the mirror or the API out of reach).
    """
    from producersync.sync.settings import SyncSettings
    from producersync.sync.verify import compare

    settings = settings_from(SyncSettings)
    with unanswered(), settings.client() as client:
        engine = read_mirror(settings.mirror_url, settings.mirror_pool_size)
        with engine.connect() as conn:
            comparison = compare(client, conn, purged=settings.purge_deactivated)
    engine.dispose()
    if as_json:
        emit(
            True,
            {
                "population": comparison.population,
                "populationDifferences": comparison.population_differences,
                "resources": [asdict(row) for row in comparison.resources],
                "equal": comparison.equal,
            },
        )
    else:
        console.print(comparison_table(comparison))
    if not comparison.equal:
        raise typer.Exit(code=1)


def comparison_table(comparison: Comparison) -> Table:
    """The comparison for people: a row per resource, and the verdict as the caption."""
    npns = counted(comparison.population, "NPN")
    table = Table(title=f"Mirror against the API ({npns})")
    for column in ("resource", "served", "equal in the mirror", "differences"):
        table.add_column(
            column, justify="left" if column in ("resource", "differences") else "right"
        )
    for row in comparison.resources:
        table.add_row(row.resource, f"{row.served:,}", f"{row.equal:,}", "\n".join(row.differences))
    if comparison.population_differences:
        table.add_row("population", "", "", "\n".join(comparison.population_differences))
    table.caption = (
        "[green]identical[/green]" if comparison.equal else "[red]the mirror differs[/red]"
    )
    return table


def _logged_settings(
    ctx: typer.Context, log_level: str | None, log_format: str | None
) -> SyncSettings:
    """A pull's settings, its options over the environment, and its log lines from now
    on at their level and in their format, as `sync run`'s: before, none was set, and a
    hook's failure, an API call retried, came as bare lines or not at all. A progress
    bar on a terminal prints them above it (``log_format.StderrHandler``)."""
    from producersync.sync.settings import SyncSettings

    options = {"log_level": log_level, "log_format": log_format}
    return logged_settings_from(SyncSettings, ctx, options)


@contextlib.contextmanager
def _puller(settings: SyncSettings) -> Iterator[tuple[Puller, sa.Engine]]:
    """A puller and its mirror, for the command within; then the hooks get what was
    committed (``Hooks.close``), and the mirror and the API client are closed."""
    from producersync.sync import mirror
    from producersync.sync.hooks import Hooks
    from producersync.sync.pull import Puller

    with contextlib.ExitStack() as stack:  # closed in the reverse order
        # The client first: a command refused for its settings makes no mirror.
        client = stack.enter_context(settings.client())
        with naming_the_mirror(settings.mirror_url):
            engine = mirror.open_mirror(settings.mirror_url, settings.mirror_pool_size)
        stack.callback(engine.dispose)
        # Refused while another pull is going on (told before the API is asked: it sends
        # no request), or by the API (its client's credentials or scope): no run is
        # recorded. ``_pull_with_progress`` checks the first again as it starts its run.
        with engine.connect() as conn:
            going = mirror.run_going_on(conn, mirror.MANUAL_KINDS)
        if going is not None:
            raise fail(_going_on(going))
        _ask_the_api(client)
        hooks = Hooks.from_entry_points(engine, interval=settings.run_heartbeat_seconds)
        stack.callback(hooks.close)
        puller = Puller(
            client,
            engine,
            settings.page_size,
            hooks=hooks,
            heartbeat_seconds=settings.run_heartbeat_seconds,
        )
        yield puller, engine


def _pull_with_progress(
    puller: Puller,
    kind: str,
    todo: list[Stream],
    since: dt.date | None,
    synced_through: dt.date | None,
    concurrency: int,
    first: Callable[[int], None] | None = None,
) -> None:
    """Pull ``todo`` as one run of ``kind``, after ``first`` (called with the run's id,
    within the run: nothing is changed before it has started, nor when it is refused
    for another going on)."""
    from producersync.sync import mirror
    from producersync.sync.failure import run_failure

    tune_gc()  # as the sync service does: a pull allocates a page's records at a time
    try:
        # One at a time: two pulled the same pages side by side, each at the whole of
        # the credential's rate limit, the excess refused by the API with 429s.
        run_id = puller.start(
            kind, run_date=synced_through, since=since, alone_among=mirror.MANUAL_KINDS
        )
    except mirror.RunGoingOn as exc:
        raise fail(_going_on(exc.run)) from None
    # The bar on stderr, and only on a terminal: stdout is the result alone, for a script
    # or a log to read, and stderr its errors alone (the bar's last frame came first in
    # either, `| grep licenses`, a cron job's mail and a failure's one line alike).
    with Progress(console=err_console, disable=not err_console.is_terminal) as progress:
        task = progress.add_task(f"{kind}: streams", total=len(todo))
        page = _advancing(puller.page, lambda: progress.advance(task))
        try:
            if first is not None:
                first(run_id)
            counts = puller.pull(todo, run_id, concurrency=concurrency, page=page)
        except KeyboardInterrupt:
            # Stopped by hand or by SIGTERM (Terminated), not failed: shown interrupted
            # now, not a minute later when its lease has run out (what a SIGKILL
            # leaves). The command ends with 130 or 143 and not a word: this is the word.
            puller.interrupt(run_id)
            console.print(
                f"stopped: sync run {run_id} ({kind}) is recorded as interrupted; what it "
                "wrote stays in the mirror, and the command run again pulls it all",
                highlight=False,
            )
            raise
        except Exception as exc:
            puller.finish(run_id, {}, error=run_failure(exc))
            raise
        progress.update(task, completed=len(todo))  # a list that came nested is not read
    puller.finish(run_id, counts, synced_through=synced_through)
    # Under ``changed``: the counts were bare ``licenses: 0`` lines, which read as
    # "no license fetched" after a backfill of a mirror already current.
    emit(False, {"run": run_id, "kind": kind, "changed": counts})


def _going_on(run: Mapping[str, object]) -> str:
    """Why a pull is refused: ``run`` (as ``sync status`` shows it) is going on."""
    return (
        f"sync run {run['id']} ({run['kind']}) is running on this mirror, started "
        f"{run['startedAt']}, last shown alive {run['lastSeenAt']}: one `sync now` or "
        "`sync backfill` at a time; run this again once it has ended (a run whose process "
        "died is shown interrupted once its lease has run out, a minute by default)"
    )


def _advancing(page: PageFn, advance: Callable[[], None]) -> PageFn:
    """``page``, calling ``advance`` whenever a stream ends."""

    def counted(stream: Stream, path: str | None, run_id: int | None) -> PageResult:
        result = page(stream, path, run_id)
        if result.next_path is None:
            advance()
        return result

    return counted
