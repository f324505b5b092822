"""Accounts and their OAuth clients."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa

from producersync.service.auth.secrets import (
    hash_secret,
    new_client_id,
    new_client_secret,
)
from producersync.service.store.outbox import store_clock
from producersync.service.store.tables import accounts, api_clients

__all__ = [
    "CLIENT_ID_MAX",
    "Account",
    "AccountExists",
    "ClientRecord",
    "Cutoff",
    "InvalidName",
    "NotFound",
    "account_name",
    "checked_name",
    "create_account",
    "create_client",
    "find_account",
    "find_client",
    "list_accounts",
    "list_clients",
    "revoke_client",
    "rotate_client_secret",
    "token_cutoffs",
]


class NotFound(LookupError):
    """No such account or client."""


class AccountExists(ValueError):
    """An account with that name exists already."""


class InvalidName(ValueError):
    """A name no account can have."""


CLIENT_ID_MAX: int = api_clients.c.client_id.type.length  # type: ignore[attr-defined]
_NAME_MAX = 200  # the column's width: PostgreSQL refused a longer one with a traceback


def checked_name(name: str) -> str:
    """``name`` without its surrounding spaces: 1 to 200 characters, no control character
    (a name is shown in tables, logs and the portal, where one would garble the line)."""
    name = name.strip()
    if not name:
        raise InvalidName("the account name is empty")
    if len(name) > _NAME_MAX:
        raise InvalidName(f"the account name is {len(name):,} characters; at most {_NAME_MAX}")
    control = next((c for c in name if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        raise InvalidName(f"the account name holds a control character ({control!r})")
    return name


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    sandbox: bool
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ClientRecord:
    client_id: str
    account_id: int
    account_name: str
    sandbox: bool
    scope: str
    secret_hash: str
    created_at: dt.datetime
    secret_rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None


def _account(row: sa.Row[tuple[object, ...]]) -> Account:
    return Account(id=row.id, name=row.name, sandbox=row.sandbox, created_at=row.created_at)


def create_account(conn: sa.Connection, name: str, *, sandbox: bool) -> Account:
    """A new account named ``name`` (stripped); ``InvalidName`` or ``AccountExists``."""
    name = checked_name(name)
    if conn.execute(sa.select(accounts.c.id).where(accounts.c.name == name)).first():
        raise AccountExists(f"an account named {name!r} exists already")
    # The store's time, as every other row's: admin may run on any host, and clients made
    # on two hosts whose clocks differ would be listed out of the order they were made in.
    created = store_clock(conn)
    account_id = conn.execute(
        accounts.insert().values(name=name, sandbox=sandbox, created_at=created)
    ).inserted_primary_key[0]  # type: ignore[index]
    return Account(id=int(account_id), name=name, sandbox=sandbox, created_at=created)


def find_account(conn: sa.Connection, name: str) -> Account:
    row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
    if row is None:
        raise NotFound(f"no account named {name!r}")
    return _account(row)


def account_name(conn: sa.Connection, account_id: int) -> str:
    return str(
        conn.execute(sa.select(accounts.c.name).where(accounts.c.id == account_id)).scalar_one()
    )


def list_accounts(conn: sa.Connection) -> list[Account]:
    return [_account(r) for r in conn.execute(sa.select(accounts).order_by(accounts.c.id))]


def create_client(conn: sa.Connection, account: Account, scope: str) -> tuple[str, str]:
    """A new client for ``account``: (client_id, client_secret). The secret is not kept."""
    client_id, secret = new_client_id(), new_client_secret()
    conn.execute(
        api_clients.insert().values(
            client_id=client_id,
            account_id=account.id,
            secret_hash=hash_secret(secret),
            scope=scope,
            created_at=store_clock(conn),
        )
    )
    return client_id, secret


_client_select = sa.select(
    api_clients, accounts.c.name.label("account_name"), accounts.c.sandbox
).join(accounts, accounts.c.id == api_clients.c.account_id)


def _client(row: sa.Row[tuple[object, ...]]) -> ClientRecord:
    return ClientRecord(
        client_id=row.client_id,
        account_id=row.account_id,
        account_name=row.account_name,
        sandbox=row.sandbox,
        scope=row.scope,
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        secret_rotated_at=row.secret_rotated_at,
        revoked_at=row.revoked_at,
    )


def find_client(conn: sa.Connection, client_id: str, *, lock: bool = False) -> ClientRecord | None:
    """The client, if any; ``lock``: its row locked until the transaction ends."""
    if "\x00" in client_id:
        return None  # no id holds one, and PostgreSQL refuses to compare against it
    query = _client_select.where(api_clients.c.client_id == client_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return _client(row) if row else None


def list_clients(conn: sa.Connection, account: Account | None = None) -> list[ClientRecord]:
    # In the order made: by their times, clients made in one transaction tied on
    # PostgreSQL and came in whatever order their rows lay in.
    query = _client_select.order_by(api_clients.c.seq)
    if account is not None:
        query = query.where(api_clients.c.account_id == account.id)
    return [_client(r) for r in conn.execute(query)]


def _live_client(conn: sa.Connection, client_id: str) -> ClientRecord:
    """The client, not revoked, locked: a change of it reads it (a rotation, its last)."""
    client = find_client(conn, client_id, lock=True)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    if client.revoked_at is not None:
        raise NotFound(f"client {client_id!r} is revoked")
    return client


def rotate_client_secret(conn: sa.Connection, client_id: str) -> str:
    """A new secret for the client; the old one stops working at once."""
    previous = _live_client(conn, client_id).secret_rotated_at
    secret = new_client_secret()
    rotated = store_clock(conn)
    # Later than the last rotation, always: a token is refused for naming a rotation older
    # than the client's last, so one stamped earlier (the store's clock stepped back) would
    # let the tokens issued under the secret it rotated out through. Nor do two rotations
    # at once: the clock is read once the client's row is locked, and on PostgreSQL it is
    # the moment of reading (clock_timestamp()), not the transaction's start.
    if previous is not None and rotated <= previous:
        rotated = previous + dt.timedelta(microseconds=1)
    conn.execute(
        api_clients.update()
        .where(api_clients.c.client_id == client_id)
        .values(secret_hash=hash_secret(secret), secret_rotated_at=rotated)
    )
    return secret


def revoke_client(conn: sa.Connection, client_id: str) -> dt.datetime:
    """Revoke a live client: when."""
    _live_client(conn, client_id)
    revoked_at = store_clock(conn)
    conn.execute(
        api_clients.update()
        .where(api_clients.c.client_id == client_id)
        .values(revoked_at=revoked_at)
    )
    return revoked_at


@dataclass(frozen=True, slots=True)
class Cutoff:
    """What of a client's access tokens the API refuses: all of them once it is revoked,
    those issued under a secret rotated out (see ``TokenCodec.issue``) once it is rotated."""

    revoked: bool
    secret_rotated_at: dt.datetime | None


def token_cutoffs(conn: sa.Connection, kept: dt.timedelta) -> dict[str, Cutoff]:
    """client_id -> its cutoff, for every client revoked or whose secret was rotated within
    ``kept`` of now (the store's clock): the tokens issued before an older revocation or
    rotation have expired, and a revoked client or a rotated-out secret gets no more."""
    c = api_clients.c
    since = store_clock(conn) - kept
    rows = conn.execute(
        sa.select(c.client_id, c.revoked_at, c.secret_rotated_at).where(
            sa.or_(c.revoked_at > since, c.secret_rotated_at > since)
        )
    )
    return {r.client_id: Cutoff(r.revoked_at is not None, r.secret_rotated_at) for r in rows}
