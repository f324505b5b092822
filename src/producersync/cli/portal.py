"""`producersync admin portal-link`: a one-time login link to an account's webhook portal."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from producersync.cli.common import DatabaseOption, JsonOption, emit, fail, service_settings

__all__ = ["HELP", "portal_link"]

HELP = (
    "Print a one-time login link to the account's webhook portal.\n\n"
    "The link works once and is valid for 7 days by default "
    "(PRODUCERSYNC_PORTAL_LINK_TTL_SECONDS); "
    "using it starts a session of 12 hours (PRODUCERSYNC_PORTAL_SESSION_TTL_SECONDS). "
    "A new link can be issued at any time: earlier ones stay valid until used or expired. "
    "Only a hash of the link is stored, so it cannot be shown again."
)


def portal_link(
    ctx: typer.Context,
    account: Annotated[str, typer.Option("--account", help="Account name.")],
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="Base URL the browser reaches the service on (default: "
            "$PRODUCERSYNC_PUBLIC_URL, else http://$PRODUCERSYNC_HOST:$PRODUCERSYNC_PORT, "
            "127.0.0.1:8000 unless set: not the --port a service was started with).",
            show_default=False,
        ),
    ] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a one-time login link (see HELP)."""
    from producersync.service.portal.links import login_url
    from producersync.service.store import accounts
    from producersync.service.store import portal as store
    from producersync.service.store.engine import write_transaction
    from producersync.service.store.open import open_store

    settings = service_settings(database, ctx, public_url=public_url)
    with write_transaction(open_store(settings.database_url)) as conn:
        try:
            owner = accounts.find_account(conn, account)
        except accounts.NotFound as exc:
            raise fail(str(exc)) from None
        token, expires = store.issue_link(
            conn, owner.id, dt.timedelta(seconds=settings.portal_link_ttl_seconds)
        )
    url = login_url(settings, token)
    if as_json:
        emit(True, {"account": owner.name, "url": url, "expiresAt": expires})
    else:
        # Plain, unwrapped: the line is meant to be copied or piped.
        typer.echo(url)
