"""`producersync nipr`: the synthetic NIPR data source."""

from __future__ import annotations

import typer

app = typer.Typer(help="Generate and load NIPR data.", no_args_is_help=True)
