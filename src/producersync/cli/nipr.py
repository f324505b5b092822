"""`producersync nipr`: the synthetic NIPR data source."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from producersync.cli.common import (
    DatabaseOption,
    console,
    fail,
    iso_date,
    service_settings,
    store,
    time_text,
    whole_store,
)
from producersync.cli.errors import JsonErrorsCommand
from producersync.counted import counted
from producersync.service.nipr.bounds import (
    DEFAULT_START_DATE,
    EARLIEST_START_DATE,
    LATEST_START_DATE,
    MAX_PRODUCERS,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

    from producersync.service.nipr.daily import DailyRun

# The synthetic churn dates renewals two years on and looks 90 days around the run date:
# past these, a run would be an OverflowError halfway through. A day still to come is run only
# with --allow-future: a development store is moved days ahead that way (the benchmarks
# do), while a year's typo (2062 for 2026) would stamp that run's records, and every
# later day's, decades ahead (churn.stamp_date), and mark that day run.
EARLIEST_RUN_DATE = dt.date(1900, 1, 1)
LATEST_RUN_DATE = LATEST_START_DATE

app = typer.Typer(help="Generate NIPR data and run the daily NIPR cycle.", no_args_is_help=True)

_STORE_BUSY = (
    "the store stayed locked by another writer for 30 s, SQLite's busy timeout (a NIPR "
    "run in progress, scheduled or by hand?); nothing was changed: run it again once "
    "that one is done"
)
_HOLDS_UNIVERSE = (
    "the store already holds a generated universe (producers besides the sandbox), or "
    "what an interrupted generate left of one: --replace deletes it first"
)


@app.command("generate")
def generate_command(
    producers: Annotated[
        int,
        typer.Option(
            "--producers",
            min=1,
            max=MAX_PRODUCERS,
            help="How many producers (individuals and firms) to generate.",
        ),
    ],
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same data.")] = 1,
    start_date: Annotated[
        dt.date | None,
        typer.Option(
            "--start-date",
            parser=start_date_option,
            metavar="YYYY-MM-DD",
            help="First day the daily NIPR runs will simulate; every record predates it "
            f"({EARLIEST_START_DATE} to {LATEST_START_DATE}; default {DEFAULT_START_DATE}).",
            show_default=False,
        ),
    ] = None,
    database: DatabaseOption = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Delete a universe already in the store (the sandbox stays)."
        ),
    ] = False,
) -> None:
    """Generate a synthetic NIPR universe and bulk-load it into the store."""
    from producersync.service.nipr.loader import (
        LoadStats,
        UniverseExistsError,
        holds_universe,
        load,
    )
    from producersync.service.nipr.universe import generate

    engine = store(database)
    if not replace and holds_universe(engine):
        raise fail(_HOLDS_UNIVERSE)
    with Progress(
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("producers"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("generate", total=producers)

        def advance(stats: LoadStats) -> None:
            progress.update(task, completed=stats.producers)

        try:
            stats = load(
                engine,
                generate(producers, seed=seed, start_date=start_date or DEFAULT_START_DATE),
                on_batch=advance,
                replace=replace,
            )
        except UniverseExistsError:  # one loaded since the check above
            raise fail(_HOLDS_UNIVERSE) from None
    rows = ", ".join(f"{_type(table)} {count:,}" for table, count in stats.rows.items())
    size = _sqlite_size(engine)
    console.print(
        f"{counted(stats.producers, 'producer')}, {counted(stats.total_rows, 'record')} ({rows}) "
        f"in {stats.elapsed:.1f} s" + (f"; database file {size / 1e6:,.1f} MB" if size else "")
    )


def _type(table: str) -> str:
    """A record type as feed files and the API name it (licenseLoas), not its table's
    name (license_loas), which generate and run printed."""
    from pydantic.alias_generators import to_camel

    return str(to_camel(table))


def _sqlite_size(engine: sa.Engine) -> int | None:
    from producersync.database_url import sqlite_file

    path = sqlite_file(engine.url)
    if path is None or not path.exists():
        return None
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


@app.command("run", cls=JsonErrorsCommand)
def run_command(
    date: Annotated[
        dt.date | None,
        typer.Option(
            "--date",
            parser=run_date_option,
            metavar="YYYY-MM-DD",
            help=f"The day to apply, from {EARLIEST_RUN_DATE} to {LATEST_RUN_DATE}, and "
            "today (UTC) at the latest unless --allow-future; default: today (UTC).",
            show_default=False,
        ),
    ] = None,
    allow_future: Annotated[
        bool,
        typer.Option(
            "--allow-future",
            help="Run a --date after today (UTC): moves a development store days ahead.",
        ),
    ] = False,
    churn_rate: Annotated[
        float,
        typer.Option(
            "--churn-rate",
            min=0,
            max=1,
            help="Share of producers that change (0 to 1); licenses reaching their "
            "expiration date are renewed or lapse whatever it is.",
        ),
    ] = 0.01,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="The same seed and date give the same changes."),
    ] = None,
    feed: Annotated[
        Path | None,
        typer.Option(
            "--feed",
            help="Apply this JSON-lines feed file instead of synthetic churn (-: standard input).",
            show_default=False,
        ),
    ] = None,
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Apply one day's NIPR changes and publish updates_available to every account.

    A date already run is not run again: nothing changes and nothing is published. A
    date before the latest run (a day missed) is applied, its changes stamped with the
    latest run's date, so that a subscriber that has synced past it still fetches them."""
    from sqlalchemy.exc import OperationalError

    from producersync.service.nipr.daily import run_day
    from producersync.service.nipr.feed import FeedError, FeedLimits
    from producersync.service.store.open import open_store

    today = dt.datetime.now(dt.UTC).date()
    run_date = today if date is None else date
    if run_date > today and not allow_future:
        raise fail(_future(run_date, today), 2, field="--date", value=run_date.isoformat())
    settings = service_settings(database)
    limits = FeedLimits(settings.nipr_feed_max_bytes, settings.nipr_feed_max_line_bytes)
    started = time.perf_counter()
    try:
        run = run_day(
            whole_store(open_store(settings.database_url)),
            run_date,
            churn_rate=churn_rate,
            seed=seed,
            feed=feed,
            feed_limits=limits,
        )
    except FeedError as error:
        message = f"feed {feed}, {error}; nothing was changed"
        raise fail(message, 2, field="--feed", value=str(feed)) from None
    except OperationalError as error:
        # On PostgreSQL a run waits for the one in progress (its advisory lock); SQLite
        # gives up after its busy timeout, which says only "database is locked".
        from producersync.db_outage import sqlite_busy

        if not sqlite_busy(error):
            raise
        raise fail(_STORE_BUSY) from None
    elapsed = time.perf_counter() - started
    if as_json:
        typer.echo(orjson.dumps(_run_json(run, elapsed)).decode())
    else:
        _print_run(run, elapsed)


def _future(day: dt.date, today: dt.date) -> str:
    return (
        f"--date {day} is after today ({today}, UTC): the records it changes, and every "
        f"later day's (stamps never go back), would be stamped {day}, and the day marked "
        "run; nothing was changed (--allow-future runs it: a development store moved "
        "days ahead)"
    )


def _day_within(value: str, first: dt.date, last: dt.date) -> dt.date:
    """An option's yyyy-MM-dd day from ``first`` to ``last`` (Typer's ``parser=``)."""
    day = iso_date(value)
    if not first <= day <= last:
        raise typer.BadParameter(f"{value!r} is not from {first} to {last}")
    return day


def start_date_option(value: str) -> dt.date:
    """``--start-date``: a date the universe's calendar can hold."""
    return _day_within(value, EARLIEST_START_DATE, LATEST_START_DATE)


def run_date_option(value: str) -> dt.date:
    """``--date``: a day the synthetic churn can date changes around."""
    return _day_within(value, EARLIEST_RUN_DATE, LATEST_RUN_DATE)


def _run_json(run: DailyRun, elapsed: float) -> dict[str, object]:
    return {
        "runDate": run.run_date.isoformat(),
        "source": run.source,
        "alreadyApplied": run.already_applied,
        "changes": run.changes,
        "totalChanges": run.total_changes,
        "eventsPublished": run.events_published,
        "deliveriesQueued": run.deliveries_queued,
        "completedAt": time_text(run.completed_at),
        "seconds": round(elapsed, 3),
    }


def _print_run(run: DailyRun, elapsed: float) -> None:
    if run.already_applied:
        console.print(
            f"The run of {run.run_date} ({run.source}) was already applied at "
            f"{run.completed_at:%Y-%m-%d %H:%M:%S} UTC: nothing changed, nothing published. "
            "A date runs once: another --date runs another day (one after today with "
            "--allow-future)."
        )
        return
    table = Table(title=f"NIPR run {run.run_date} ({run.source})")
    table.add_column("type")
    table.add_column("records changed", justify="right")
    # --json's changes keeps the tables' names, for the scripts that read them.
    for name, count in run.changes.items():
        table.add_row(_type(name), f"{count:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{run.total_changes:,}[/bold]")
    console.print(table)
    console.print(
        f"{counted(run.events_published, 'updates_available event')} published "
        f"({counted(run.deliveries_queued, 'delivery')} queued) in {elapsed:.2f} s"
    )
