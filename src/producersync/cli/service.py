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
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
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
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, access_log=False)
