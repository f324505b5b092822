"""A form sent twice acts once: each action form carries a one-time token, ``once``, made
with its page (``once_token`` in pages.py), and the action claims it in its own transaction.

A second press on a slow network, Back and send again, a second tab of the same page, a
retrying proxy: each sends the same form instance again. Delete then answered 'Endpoint
not found', Recover 'queued: 0', and Send Example and Resend sent twice. The first sending
keeps where it led (its redirect) under the token, committed with what it did; a sending
of the same token after it, or waiting on it meanwhile (the key's row on PostgreSQL, the
store's one writer on SQLite), is led there too, with ``again=1``, and does nothing. A
sending that fails keeps nothing, so sent again it acts.

The tokens are the API's ``Idempotency-Key`` rows (``store/idempotency.py``), by the
account and a digest of the form's path and token, so they are bounded as those are:
pruned after ``KEPT`` (12 hours), when a key is next claimed. A form without the field
(not from the portal's page) acts as before."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit

import sqlalchemy as sa
from fastapi import Depends, Form, Request
from starlette.responses import RedirectResponse

from producersync.service.idempotency import KEPT
from producersync.service.portal.forms import form_fault
from producersync.service.portal.pages import PortalError
from producersync.service.store import idempotency

__all__ = ["Claim", "Once", "claim", "keep"]

_TOKEN = re.compile(r"[0-9a-f]{32}")
# A claim never stays open past its own transaction (``keep`` commits with the action,
# and a failure rolls both back), so one found unanswered is of a process that died.
_LEASE = KEPT


def _once(once: Annotated[str, Form()] = "") -> str | None:
    if once and not _TOKEN.fullmatch(once):
        raise form_fault("once", once, "a token the portal's page made")
    return once or None


Once = Annotated[str | None, Depends(_once)]
"""The form's one-time token, if sent."""


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """A form's token, claimed by this sending: what it did is kept under it by ``keep``."""

    account_id: int
    scope: str
    claimed: idempotency.Claimed


def claim(
    conn: sa.Connection, request: Request, account_id: int, once: str | None
) -> Claim | RedirectResponse | None:
    """In the action's write transaction, before it acts: the claim of the form's token;
    or, sent before, the way to where its first sending led; or ``None``, no token."""
    if once is None:
        return None
    scope = hashlib.sha256(f"portal-form\0{request.url.path}\0{once}".encode()).hexdigest()
    outcome = idempotency.claim(conn, account_id, scope, "", KEPT, _LEASE)
    if isinstance(outcome, idempotency.Claimed):
        return Claim(account_id, scope, outcome)
    if isinstance(outcome, idempotency.Stored):
        location = dict(outcome.headers)["location"]
        parts = urlsplit(location)
        query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("again", "1")])
        return RedirectResponse(f"{parts.path}?{query}", status_code=303)
    raise PortalError(  # pragma: no cover - an unanswered claim outlives no transaction
        409,
        "This form is being sent",
        "It was sent before and is still being done. Open the page again in a moment.",
        back=("endpoints", "Back to Endpoints"),
    )


def keep(conn: sa.Connection, claimed: Claim | None, response: RedirectResponse) -> None:
    """Keep where the first sending led, in its transaction, before it commits."""
    if claimed is None:
        return
    answer = idempotency.Stored(303, [("location", response.headers["location"])], b"")
    idempotency.keep(conn, claimed.account_id, claimed.scope, claimed.claimed, answer)
