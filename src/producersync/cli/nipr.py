"""`producersync nipr`: the synthetic NIPR data source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from producersync.cli.common import DatabaseOption, console, err_console, store
from producersync.service.nipr.loader import LoadStats, UniverseExistsError, load
from producersync.service.nipr.universe import DEFAULT_START_DATE, MAX_PRODUCERS, generate

app = typer.Typer(help="Generate and load NIPR data.", no_args_is_help=True)


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
        dt.datetime,
        typer.Option(
            "--start-date",
            formats=["%Y-%m-%d"],
            help="First day the daily NIPR runs will simulate; every record predates it.",
        ),
    ] = dt.datetime.combine(DEFAULT_START_DATE, dt.time()),
    database: DatabaseOption = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Delete a universe already in the store (the sandbox stays)."
        ),
    ] = False,
) -> None:
    """Generate a synthetic NIPR universe and bulk-load it into the store."""
    engine = store(database)
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
                generate(producers, seed=seed, start_date=start_date.date()),
                on_batch=advance,
                replace=replace,
            )
        except UniverseExistsError as error:
            err_console.print(f"[red]error:[/red] {error}")
            raise typer.Exit(1) from error
    rows = ", ".join(f"{table} {count:,}" for table, count in stats.rows.items())
    size = _sqlite_size(engine)
    console.print(
        f"{stats.producers:,} producers, {stats.total_rows:,} rows ({rows}) "
        f"in {stats.elapsed:.1f} s" + (f"; database file {size / 1e6:,.1f} MB" if size else "")
    )


def _sqlite_size(engine: sa.Engine) -> int | None:
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    path = Path(engine.url.database)
    if not path.exists():  # an in-memory database
        return None
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
