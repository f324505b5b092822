"""`producersync service`: run the ProducerSync service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from producersync.cli.common import (
    DatabaseOption,
    HostOption,
    LogFormatOption,
    LogLevelOption,
    ServicePortOption,
    serve,
    service_settings,
    whole_store,
)
from producersync.gc_tuning import pause_gc

if TYPE_CHECKING:
    from producersync.executors import ExecutorLock
    from producersync.service.settings import ServiceSettings

app = typer.Typer(help="Run the ProducerSync service.", no_args_is_help=True)

# Both commands deliver (`service run` unless --no-delivery), so both recover their own
# batches under it: given to the worker alone, a delivering `service run` was named by
# its environment only.
_EXECUTOR_ID_HELP = (
    "DBOS executor id: a process restarted with the same id resumes the batches it was "
    "killed in; one a live process holds is refused (default $PRODUCERSYNC_EXECUTOR_ID or "
    "<hostname>:<port>)."
)


@app.command()
def run(
    ctx: typer.Context,
    host: HostOption = None,
    port: ServicePortOption = None,
    database: DatabaseOption = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="Base URL for HAL links (default $PRODUCERSYNC_PUBLIC_URL, else the URL "
            "each request came in on)."
        ),
    ] = None,
    # Each parameter is named as the setting it gives: a refused value names its option.
    # Each panel is a table of its own, its columns as wide as its options need, so that
    # at 80 columns the help's column holds the variables' names whole: in one table the
    # columns of --rate-limit-storage, --no-delivery and the ranges leave it too narrow,
    # and Rich cuts them. The short metavars (MS, FRACTION) leave Chaos's help that room.
    api_rate_limit_per_minute: Annotated[
        int | None,
        typer.Option(
            "--rate-limit",
            help="API requests per minute per client, 1 to 1,000,000 "
            "(default $PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE or 300).",
            rich_help_panel="Rate limits",
        ),
    ] = None,
    rate_limit_storage: Annotated[
        str | None,
        typer.Option(
            help="memory:// or redis://host:port to share limits "
            "(default $PRODUCERSYNC_RATE_LIMIT_STORAGE or memory://).",
            rich_help_panel="Rate limits",
        ),
    ] = None,
    chaos_latency_ms: Annotated[
        float | None,
        typer.Option(
            min=0,
            metavar="MS",
            help="Milliseconds added to every /v1 and /v2 response "
            "(default $PRODUCERSYNC_CHAOS_LATENCY_MS or 0).",
            rich_help_panel="Chaos",
        ),
    ] = None,
    chaos_fault_rate: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=1,
            metavar="FRACTION",
            help="Fraction of API requests answered with a 500, a 429 or a dropped "
            "connection (default $PRODUCERSYNC_CHAOS_FAULT_RATE or 0; "
            "$PRODUCERSYNC_CHAOS_SEED makes the draws reproducible).",
            rich_help_panel="Chaos",
        ),
    ] = None,
    delivery_enabled: Annotated[
        bool | None,
        typer.Option(
            "--delivery/--no-delivery",
            help="Deliver webhooks in this process (default $PRODUCERSYNC_DELIVERY_ENABLED "
            "or on); off when `service worker` processes deliver.",
            rich_help_panel="Delivery",
        ),
    ] = None,
    executor_id: Annotated[
        str | None, typer.Option(help=_EXECUTOR_ID_HELP, rich_help_panel="Delivery")
    ] = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log",
            help="Log a line for each request: method, path (no query), status, time, "
            "API client and request id (default $PRODUCERSYNC_ACCESS_LOG or off).",
        ),
    ] = None,
) -> None:
    """Serve the OAuth token endpoint, the ProducerSync API v1/v2 and the webhook portal."""
    pause_gc()  # until the app's start tunes it
    settings = service_settings(
        database,
        ctx,
        logs=True,
        host=host,
        port=port,
        public_url=public_url,
        api_rate_limit_per_minute=api_rate_limit_per_minute,
        rate_limit_storage=rate_limit_storage,
        chaos_latency_ms=chaos_latency_ms,
        chaos_fault_rate=chaos_fault_rate,
        delivery_enabled=delivery_enabled,
        executor_id=executor_id,
        log_level=log_level,
        log_format=log_format,
        access_log=access_log,
    )
    from producersync.service.app import create_app
    from producersync.service.errors import error_response

    _open_store(settings)
    serve(lambda: create_app(settings, executor_lock_taken(settings)), settings, error_response)


@app.command()
def worker(
    ctx: typer.Context,
    host: HostOption = None,
    port: ServicePortOption = None,
    database: DatabaseOption = None,
    executor_id: Annotated[str | None, typer.Option(help=_EXECUTOR_ID_HELP)] = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Deliver webhooks and apply subscription jobs, without serving the API.

    Run any number beside `service run --no-delivery` processes, on the same PostgreSQL
    store (and the same DBOS system database): they share the outbox without taking the
    same delivery twice.
    """
    pause_gc()  # until the app's start tunes it
    settings = service_settings(
        database,
        ctx,
        logs=True,
        host=host,
        port=port,
        executor_id=executor_id,
        log_level=log_level,
        log_format=log_format,
    )
    from producersync.service.errors import error_response
    from producersync.service.worker import create_worker_app

    _open_store(settings)
    serve(
        lambda: create_worker_app(settings, executor_lock_taken(settings)), settings, error_response
    )


def executor_lock_taken(settings: ServiceSettings) -> ExecutorLock | None:
    """The executor lock of a process that delivers, taken as its app is made: before
    uvicorn starts, so that a process refused it (``ExecutorTaken``) exits with the one
    line and code 2 of every command, not uvicorn's traceback of the app's startup."""
    if not settings.delivery_enabled:
        return None
    from producersync.service.durable import executor_lock

    lock = executor_lock(settings)
    lock.take(settings.executor_lock_wait_seconds)
    return lock


def _open_store(settings: ServiceSettings) -> None:
    """Open (and migrate) the store, and reach DBOS's system database, before serving:
    one out of reach, a file that is no store, or a role that may not keep DBOS's schema,
    is then the one line and exit code 1 of every command, not uvicorn's traceback (150
    lines) and exit code 3, as it would be were they first opened in the app's startup."""
    from producersync.cli.system_database import reach_system_database
    from producersync.service.settings import ServiceSettings
    from producersync.service.store.open import open_store

    whole_store(open_store(settings.database_url, 1)).dispose()
    reach_system_database(settings.dbos_system_database_url, ServiceSettings, settings.database_url)
