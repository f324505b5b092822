"""`producersync quickstart`: the service on the embedded defaults, ready to call.

A SQLite store in the working directory with a synthetic NIPR universe, a sandbox account
with one OAuth client, and the service on 127.0.0.1 — what the README's first command runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.progress import Progress

from producersync.cli.common import (
    DatabaseOption,
    HostOption,
    ServicePortOption,
    console,
    fail,
    listen,
    serve,
    service_settings,
)
from producersync.counted import counted
from producersync.service.nipr.bounds import MAX_PRODUCERS

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["ensure_universe", "keep_credentials", "quickstart"]

_ACCOUNT = "sandbox"
_PRODUCERS = 2_000  # generated into an empty store unless --producers says otherwise
_CREDENTIALS = Path(".producersync/sandbox-client.json")


def ensure_universe(engine: sa.Engine, producers: int, seed: int) -> bool:
    """Load a universe unless the store holds one; part of one, which an interrupted
    load left, is loaded again. Whether one was loaded."""
    from producersync.service.nipr.loader import holds_universe, interrupted_load, load
    from producersync.service.nipr.universe import generate

    partial = interrupted_load(engine) is not None
    if producers == 0 or (holds_universe(engine) and not partial):
        return False
    with Progress(console=console) as progress:
        task = progress.add_task("generating the NIPR universe", total=producers)
        stats = load(
            engine,
            generate(producers, seed=seed),
            lambda s: progress.update(task, completed=s.producers),
            replace=partial,
        )
    console.print(
        f"loaded {counted(stats.producers, 'producer')} ({counted(stats.total_rows, 'record')}) "
        f"in {stats.elapsed:.1f} s"
    )
    return True


def _saved_credentials(path: Path) -> dict[str, str]:
    """The credentials kept in ``path``; one that is not their JSON object is a usage
    error naming it, not a JSONDecodeError traceback: the file is left for the user
    to mend or remove, as it may hold the only copy of a secret."""
    try:
        saved = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise fail(f"--credentials {path}: not JSON ({exc}); fix or remove it", code=2) from None
    if not isinstance(saved, dict) or not isinstance(saved.get("client_id", ""), str):
        raise fail(
            f"--credentials {path}: not a JSON object with a client_id; fix or remove it", code=2
        )
    return saved


def keep_credentials(path: Path, creds: dict[str, str]) -> None:
    """An API client's ``account``, ``client_id`` and ``client_secret`` written to
    ``path`` as a JSON object; a file it creates is its owner's alone (0600) from the
    start, never readable by others while the secret is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(creds, option=orjson.OPT_INDENT_2))


def _ensure_credentials(
    engine: sa.Engine, path: Path, saved: dict[str, str] | None
) -> dict[str, str]:
    """The sandbox client's credentials, created once and kept in a 0600 file (``saved``:
    what it held)."""
    from producersync.service.store import accounts
    from producersync.service.store.engine import write_transaction

    if saved is not None:
        with engine.connect() as conn:
            client = accounts.find_client(conn, saved.get("client_id", ""))
        if client is not None and client.revoked_at is None:
            return saved
    with write_transaction(engine) as conn:
        try:
            account = accounts.find_account(conn, _ACCOUNT)
        except accounts.NotFound:
            account = accounts.create_account(conn, _ACCOUNT, sandbox=True)
        client_id, secret = accounts.create_client(
            conn, account, "producersync.read producersync.write"
        )
    creds = {"account": _ACCOUNT, "client_id": client_id, "client_secret": secret}
    keep_credentials(path, creds)
    return creds


def quickstart(
    ctx: typer.Context,
    host: HostOption = None,
    port: ServicePortOption = None,
    database: DatabaseOption = None,
    producers: Annotated[
        int | None,
        typer.Option(
            help=f"Producers to generate into an empty store (default {_PRODUCERS:,}; a "
            "store holding a universe is served as it is).",
            min=0,
            max=MAX_PRODUCERS,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic universe.")] = 1,
    credentials: Annotated[
        Path,
        typer.Option(
            # The path as one word would be wider than the help's column at 80 columns.
            help="Where the sandbox client's credentials are kept (default: "
            f"{_CREDENTIALS.name} in {_CREDENTIALS.parent}).",
            dir_okay=False,
            show_default=False,
        ),
    ] = _CREDENTIALS,
) -> None:
    """Set up a local ProducerSync (store, data, sandbox client) and serve it."""
    from producersync.service.store.open import open_store
    from producersync.url_userinfo import masked

    settings = service_settings(database, ctx, logs=True, host=host, port=port)
    # Read before the store is opened: a file it cannot use is to leave nothing made.
    saved = _saved_credentials(credentials) if credentials.exists() else None
    # Taken before the store is set up: on a port in use, the banner below would send its
    # reader to whatever else listens there, after minutes generating a large universe.
    listening = listen(settings.host, settings.port)
    engine = open_store(settings.database_url)
    asked = _PRODUCERS if producers is None else producers
    if not ensure_universe(engine, asked, seed) and producers:
        # Asked for after a first quickstart in the same directory, as service.md's example
        # follows the README's: the universe served would not be the one asked for.
        console.print(
            f"--producers {producers:,}: not generated, the store holds a universe already "
            "(served as it is; another --database makes a new one)"
        )
    creds = _ensure_credentials(engine, credentials, saved)
    engine.dispose()
    base = f"http://{settings.host}:{settings.port}"
    # The secret is read from its file as a line runs, never printed.
    secret = (
        f"$(python3 -c \"import json;print(json.load(open('{credentials}'))['client_secret'])\")"
    )
    # soft_wrap: the command lines must stay copy-pasteable in narrow terminals.
    console.print(
        f"\n[bold]ProducerSync[/bold] at {base} (store: {masked(settings.database_url)})\n"
        f"sandbox client_id: [bold]{creds['client_id']}[/bold] — its secret is in "
        f"{credentials} (mode 0600)\n\n"
        "Try:\n"
        f"  TOKEN=$(curl -s {base}/oauth2/token -d grant_type=client_credentials \\\n"
        f"      -d client_id={creds['client_id']} -d client_secret={secret} \\\n"
        "      | python3 -c 'import json,sys;print(json.load(sys.stdin)[\"access_token\"])')\n"
        f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/v2/entities/15645555\n'
        "  # The SDK's Client() and the sync commands, pointed at this service and client:\n"
        f"  export PRODUCERSYNC_API_URL={base} PRODUCERSYNC_CLIENT_ID={creds['client_id']} "
        f"PRODUCERSYNC_CLIENT_SECRET={secret}\n"
        f"  API reference: {base}/docs   OpenAPI: {base}/openapi.json\n",
        soft_wrap=True,
    )
    from producersync.cli.service import executor_lock_taken
    from producersync.service.app import create_app
    from producersync.service.errors import error_response

    serve(
        lambda: create_app(settings, executor_lock_taken(settings)),
        settings,
        error_response,
        listening,
    )
