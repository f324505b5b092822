"""`producersync admin`: accounts, their OAuth clients, webhook endpoints, portal links."""

from __future__ import annotations

from typing import Annotated

import typer

from producersync.cli import endpoints, portal
from producersync.cli.common import (
    DatabaseOption,
    JsonOption,
    emit,
    fail,
    json_text,
    print_table,
    store,
)
from producersync.cli.errors import JsonErrorsCommand
from producersync.service.auth.scopes import ALL_SCOPES, parse_scopes

app = typer.Typer(
    help="Administer accounts, OAuth clients, webhook endpoints and messages, and portal links.",
    no_args_is_help=True,
)
account_app = typer.Typer(help="Accounts (the customers of the service).", no_args_is_help=True)
client_app = typer.Typer(help="OAuth clients of an account.", no_args_is_help=True)
app.add_typer(account_app, name="account")
app.add_typer(client_app, name="client")
app.add_typer(endpoints.app, name="endpoint")
app.add_typer(endpoints.message_app, name="message")
app.command("portal-link", help=portal.HELP, cls=JsonErrorsCommand)(portal.portal_link)

_DEFAULT_SCOPE = " ".join(sorted(ALL_SCOPES))


@account_app.command("create", cls=JsonErrorsCommand)
def account_create(
    name: Annotated[str, typer.Argument(help="Unique account name.")],
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Sandbox account: sees the sample NPNs.")
    ] = False,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an account."""
    from producersync.service.store import accounts as store_accounts
    from producersync.service.store.engine import write_transaction

    try:
        name = store_accounts.checked_name(name)  # before a store is opened, or made
    except store_accounts.InvalidName as exc:
        raise fail(f"NAME: {exc}", 2) from None
    with write_transaction(store(database)) as conn:
        try:
            account = store_accounts.create_account(conn, name, sandbox=sandbox)
        except store_accounts.AccountExists as exc:
            raise fail(str(exc)) from None
    emit(as_json, {"account": account.name, "id": account.id, "sandbox": account.sandbox})


@account_app.command("list", cls=JsonErrorsCommand)
def account_list(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """List accounts."""
    from producersync.service.store import accounts as store_accounts

    with store(database).connect() as conn:
        rows = store_accounts.list_accounts(conn)
    if as_json:
        typer.echo(
            json_text(
                [
                    {"account": a.name, "id": a.id, "sandbox": a.sandbox, "createdAt": a.created_at}
                    for a in rows
                ]
            )
        )
        return
    listed = [
        {"id": a.id, "account": a.name, "sandbox": a.sandbox, "createdAt": a.created_at}
        for a in rows
    ]
    print_table(["id", "account", "sandbox", "createdAt"], listed)


@client_app.command("create", cls=JsonErrorsCommand)
def client_create(
    account: Annotated[str, typer.Option("--account", help="Account name.")],
    scope: Annotated[str, typer.Option(help="Space-separated scopes to grant.")] = _DEFAULT_SCOPE,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an OAuth client; prints client_id and client_secret (shown only this once)."""
    from producersync.service.store import accounts as store_accounts
    from producersync.service.store.engine import write_transaction

    unknown = parse_scopes(scope) - ALL_SCOPES
    if unknown or not parse_scopes(scope):
        why = f"unknown scope(s) {' '.join(sorted(unknown))}" if unknown else "no scope given"
        raise fail(
            f"--scope: {why}; known: {_DEFAULT_SCOPE}",
            2,
            field="--scope",
            value=scope,
        )
    with write_transaction(store(database)) as conn:
        try:
            owner = store_accounts.find_account(conn, account)
        except store_accounts.NotFound as exc:
            raise fail(str(exc)) from None
        client_id, secret = store_accounts.create_client(
            conn, owner, " ".join(sorted(parse_scopes(scope)))
        )
    emit(
        as_json,
        {
            "account": owner.name,
            "client_id": client_id,
            "client_secret": secret,
            "scope": " ".join(sorted(parse_scopes(scope))),
        },
    )


@client_app.command("list", cls=JsonErrorsCommand)
def client_list(
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List clients (never their secrets)."""
    from producersync.service.store import accounts as store_accounts

    with store(database).connect() as conn:
        try:
            owner = store_accounts.find_account(conn, account) if account else None
        except store_accounts.NotFound as exc:
            raise fail(str(exc)) from None
        rows = store_accounts.list_clients(conn, owner)
    records = [
        {
            "client_id": c.client_id,
            "account": c.account_name,
            "scope": c.scope,
            "createdAt": c.created_at,
            "revokedAt": c.revoked_at,
        }
        for c in rows
    ]
    if as_json:
        typer.echo(json_text(records))
        return
    print_table(["client_id", "account", "scope", "createdAt", "revokedAt"], records)


@client_app.command("rotate-secret", cls=JsonErrorsCommand)
def client_rotate_secret(
    client_id: Annotated[str, typer.Argument(help="The client to rotate.")],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue a new client secret (shown once); the old one stops working at once, and the
    tokens issued under it within seconds."""
    from producersync.service.store import accounts as store_accounts
    from producersync.service.store.engine import write_transaction

    with write_transaction(store(database)) as conn:
        try:
            secret = store_accounts.rotate_client_secret(conn, client_id)
        except store_accounts.NotFound as exc:
            raise fail(str(exc)) from None
    emit(as_json, {"client_id": client_id, "client_secret": secret})


@client_app.command("revoke", cls=JsonErrorsCommand)
def client_revoke(
    client_id: Annotated[str, typer.Argument(help="The client to revoke.")],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a client: no new tokens, and its live tokens stop working within seconds."""
    from producersync.service.store import accounts as store_accounts
    from producersync.service.store.engine import write_transaction

    with write_transaction(store(database)) as conn:
        try:
            revoked_at = store_accounts.revoke_client(conn, client_id)
        except store_accounts.NotFound as exc:
            raise fail(str(exc)) from None
    emit(as_json, {"client_id": client_id, "revokedAt": revoked_at})
