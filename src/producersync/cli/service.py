"""`producersync service`: run the ProducerSync service."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from producersync.cli.common import DatabaseOption, service_settings
from producersync.service.app import create_app

app = typer.Typer(help="Run the ProducerSync service.", no_args_is_help=True)


@app.command()
def run(
    host: Annotated[
        str | None, typer.Option(help="Interface (default $PRODUCERSYNC_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port (default $PRODUCERSYNC_PORT or 8000).")
    ] = None,
    database: DatabaseOption = None,
    public_url: Annotated[
        str | None, typer.Option(help="Base URL for HAL links (default: as requested).")
    ] = None,
    rate_limit: Annotated[
        int | None, typer.Option(help="API requests per minute per client (default 300).")
    ] = None,
    rate_limit_storage: Annotated[
        str | None, typer.Option(help="memory:// or redis://host:port to share limits.")
    ] = None,
    chaos_latency_ms: Annotated[
        float | None,
        typer.Option(min=0, help="Chaos: ms added to every /v1 and /v2 response (default 0)."),
    ] = None,
    chaos_fault_rate: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=1,
            help="Chaos: fraction of API requests answered with a 500, a 429 or a dropped "
            "connection (default 0; $PRODUCERSYNC_CHAOS_SEED makes the draws reproducible).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the OAuth token endpoint and the ProducerSync API v1/v2."""
    settings = service_settings(
        database,
        host=host,
        port=port,
        public_url=public_url,
        api_rate_limit_per_minute=rate_limit,
        rate_limit_storage=rate_limit_storage,
        chaos_latency_ms=chaos_latency_ms,
        chaos_fault_rate=chaos_fault_rate,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
    )
