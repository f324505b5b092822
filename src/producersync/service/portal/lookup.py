"""The visitor's own endpoints, by id: another account's, or none, is a 404 page."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Path, Request

from producersync.service.api.webhook_models import ID_PATTERN
from producersync.service.context import get_context
from producersync.service.portal.auth import SignedIn, Visitor
from producersync.service.portal.pages import PortalError
from producersync.service.store import endpoints

__all__ = ["EndpointId", "MessageId", "Owned", "owned"]

# A malformed id is a 404 like an unknown one (see app.py), and never reaches the SQL.
EndpointId = Annotated[str, Path(pattern=ID_PATTERN)]
MessageId = Annotated[str, Path(pattern=ID_PATTERN)]


def owned(
    conn: sa.Connection, visitor: Visitor, endpoint_id: str, *, lock: bool = False
) -> endpoints.Endpoint:
    """``lock``: its row, until the transaction ends (PostgreSQL; SQLite's write
    transaction holds the whole store)."""
    endpoint = endpoints.get_endpoint(conn, visitor.account_id, endpoint_id, lock=lock)
    if endpoint is None:
        raise PortalError.not_found("endpoint")
    return endpoint


def _owned_endpoint(
    endpoint_id: EndpointId, request: Request, visitor: SignedIn
) -> endpoints.Endpoint:
    with get_context(request).engine.connect() as conn:
        return owned(conn, visitor, endpoint_id)


Owned = Annotated[endpoints.Endpoint, Depends(_owned_endpoint)]
"""The endpoint the path names, read before the route runs. A change that needs it to
still exist reads it again in its own transaction."""
