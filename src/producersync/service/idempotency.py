"""``Idempotency-Key`` on the API's writes: a retry of a write whose answer was lost (a
timeout, a connection reset) gets that answer again, instead of making a second webhook
endpoint or a second subscription job.

Svix's convention (reference/webhooks.md), scoped as Stripe's is: by the account (a
refreshed token, or another client of it, replays the same answer), the method, the path
and the key. 2xx answers are kept, for 12 hours, and so is any answer of a request whose
change was made (a failure after its write committed): a retry gets it again rather than
make the change twice; any other failure gives the key up, for a retry to try afresh. A
request with a key in use by one still running waits for its answer (polled every 200
ms, up to 5 s), then gets it; past that wait, a ``409`` with ``Retry-After`` (a retry
may yet get the answer). The key reused with another body (or query) is a ``400``, as
Stripe has it: the client's mistake, which no retry mends (the IETF draft's ``422`` is
no status this API answers: every refusal of a request is a ``400`` naming what it
refuses); as is a key that is blank or over 255 characters. A request whose process
ended after its change and before its answer was kept (the change marked carried out in
its own transaction), or that raised after it (no answer to keep: its client had a
``500``), is not run again: its retry is a ``400`` saying when it was carried out, to
look its result up.

Pure ASGI, inside the gate (whose principal names the account) and the body limit (a body
is read whole, to compare it, only once it is known not to be too large).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import sqlalchemy as sa
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producersync.model.events import iso_z
from producersync.service.auth.principal import Principal
from producersync.service.errors import error_response, shown
from producersync.service.gate import API_PREFIXES
from producersync.service.served_under import route_path
from producersync.service.store import idempotency
from producersync.service.store.engine import marking_writes, write_transaction

__all__ = [
    "HEADER",
    "KEPT",
    "LEASE",
    "MAX_KEY_CHARS",
    "METHODS",
    "REPLAYED",
    "WAIT_SECONDS",
    "Idempotency",
    "add_idempotency_key",
    "fingerprint",
    "key_scope",
]

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
"""Set on an answer given again (Stripe's header), so a client can tell."""
MAX_KEY_CHARS = 255
KEPT = dt.timedelta(hours=12)
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""The writes: the POSTs, and subscriptions' PUT and DELETE, which each make a job."""
WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.2
LEASE = dt.timedelta(minutes=5)
"""A claim with no answer this old is a dead process's (no request runs that long: the
SDK's attempts give up after 185 s): the next request with its key takes it over, unless
its change was made."""


def _invalid(key: str, why: str) -> str:
    return f"Invalid value {shown(key)} for header '{HEADER}': {why}"


def _refusal(keys: list[str]) -> str | None:
    """Why the request's keys are refused (400), if they are."""
    if len(keys) > 1:
        return f"The {HEADER} header is given more than once; give it once"
    key = keys[0]
    if not key.strip():
        return _invalid(key, "a key may not be blank")
    if len(key) > MAX_KEY_CHARS:
        return _invalid(key, f"a key is at most {MAX_KEY_CHARS} characters, not {len(key)}")
    return None


def _digest(*parts: bytes) -> str:
    # Length-prefixed, so that no two lists of parts read as the same bytes.
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def key_scope(method: str, path: str, key: str) -> str:
    """What a key is kept under, for an account: a digest of the request's method, path
    and key."""
    return _digest(method.encode(), path.encode(), key.encode("latin-1"))


def fingerprint(query_string: bytes, body: bytes) -> str:
    """What tells a retry from another request with the same key: its query and body."""
    return _digest(query_string, body)


async def _read_body(receive: Receive) -> bytes | None:
    """The request's body, whole; None if the client left before it ended."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the body already read given once more, first."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_stored(answer: idempotency.Stored, send: Send) -> None:
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in answer.headers]
    headers.append((REPLAYED.lower().encode(), b"true"))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def _appending(held: list[Message]) -> Send:
    """A ``send`` that holds the messages in ``held``."""

    async def append(message: Message) -> None:
        held.append(message)

    return append


class Idempotency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keys = (
            Headers(scope=scope).getlist(HEADER)
            if scope["type"] == "http"
            and scope["method"] in METHODS
            and route_path(scope).startswith(API_PREFIXES)
            else []
        )
        if not keys:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if refusal := _refusal(keys):
            await error_response(400, refusal, path)(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except HTTPException as exc:  # the body limit's 413 or 408, raised here outside FastAPI
            answer = error_response(exc.status_code, str(exc.detail), path, exc.headers)
            await answer(scope, receive, send)
            return
        if body is None:
            return  # no one is left to answer
        key = keys[0]
        principal: Principal = scope["state"]["principal"]
        request = _Request(
            scope["app"].state.context.engine,
            principal.account_id,
            key_scope(scope["method"], path, key),
            fingerprint(scope.get("query_string", b""), body),
        )
        outcome = await request.claim()
        if isinstance(outcome, idempotency.Stored):
            await _send_stored(outcome, send)
        elif isinstance(outcome, idempotency.Claimed):
            await request.run(outcome, self.app, scope, _replaying(body, receive), send)
        elif isinstance(outcome, idempotency.Lost):
            why = (
                f"the request with this key was carried out at {iso_z(outcome.at)}, but its "
                "answer was lost (the service failed or stopped before it was kept); look its "
                "result up rather than retry it"
            )
            await error_response(400, _invalid(key, why), path)(scope, receive, send)
        elif outcome == "mismatch":
            why = (
                f"the key was used within {KEPT.total_seconds() / 3600:.0f} hours by a request "
                "with another body; a new request needs a new key"
            )
            await error_response(400, _invalid(key, why), path)(scope, receive, send)
        else:
            why = "a request with this key is still running; retry once it is answered"
            await error_response(409, _invalid(key, why), path, {"retry-after": "1"})(
                scope, receive, send
            )


class _Request:
    """One request with a key: its claim on it, and what it does with the answer."""

    def __init__(self, engine: sa.Engine, account_id: int, scope: str, fingerprint: str) -> None:
        self.engine = engine
        self.account_id = account_id
        self.scope = scope
        self.fingerprint = fingerprint

    async def claim(self) -> idempotency.Outcome:
        """The key, or what holds it; while another request holds it, polled for its
        answer up to ``WAIT_SECONDS``."""
        ends = time.monotonic() + WAIT_SECONDS
        while True:
            outcome = await anyio.to_thread.run_sync(self._claim)
            if outcome != "running" or time.monotonic() + _POLL_SECONDS > ends:
                return outcome
            await anyio.sleep(_POLL_SECONDS)

    def _claim(self) -> idempotency.Outcome:
        with write_transaction(self.engine) as conn:
            return idempotency.claim(
                conn, self.account_id, self.scope, self.fingerprint, KEPT, LEASE
            )

    async def run(
        self, claimed: idempotency.Claimed, app: ASGIApp, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer the request, and keep its answer if it is a 2xx, or if its change was
        made (``idempotency.settle``); else give up the key. The answer is held back until
        then: a client that has it and retries at once gets it again, not a wait (or, for
        a refusal, a key still claimed).

        The write commits before its answer is kept, in a transaction of its own: held
        open until the answer was kept, its locks (SQLite's, a row's) outlived the hops to
        the shared thread pool that serializing and keeping the answer take, and 60 such
        requests at once, waiting on those locks in every thread of the pool, were never
        answered. So the write marks the claim carried out, in its own transaction
        (``marking_writes``): a process that dies between the two leaves the key claimed
        and marked, and a retry after the lease is refused (``idempotency.Lost``) rather
        than make the change again."""
        held: list[Message] = []
        try:
            carried_out = partial(
                idempotency.carried_out,
                account_id=self.account_id,
                scope=self.scope,
                claimed=claimed,
            )
            with marking_writes(carried_out):
                await app(scope, receive, _appending(held))
        except BaseException:
            await self._settle(claimed, None)
            raise
        await self._settle(claimed, _answer(held))
        for message in held:
            await send(message)

    async def _settle(
        self, claimed: idempotency.Claimed, answer: idempotency.Stored | None
    ) -> None:
        # Shielded: a request cancelled meanwhile (its client gone) still settles its key.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._settled, claimed, answer)

    def _settled(self, claimed: idempotency.Claimed, answer: idempotency.Stored | None) -> None:
        with write_transaction(self.engine) as conn:
            idempotency.settle(conn, self.account_id, self.scope, claimed, answer, LEASE)


def _answer(held: list[Message]) -> idempotency.Stored | None:
    """The answer in the messages ``held``, if they began one."""
    start = next((m for m in held if m["type"] == "http.response.start"), None)
    if start is None:
        return None
    return idempotency.Stored(
        start["status"],
        [(n.decode("latin-1"), v.decode("latin-1")) for n, v in start["headers"]],
        b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body"),
    )


def add_idempotency_key(spec: dict[str, Any]) -> None:
    """The header, an optional parameter of every write of the API, and the 409 it may
    bring (its 400s are the operation's, declared everywhere)."""
    parameter = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": (
            f"Makes a retry safe: a request with the key of one answered 2xx within "
            f"{KEPT.total_seconds() / 3600:.0f} h (by the same account, method and path), or "
            f"answered otherwise after its change was made, gets that answer again, with "
            f"`{REPLAYED}: true`, and changes nothing; one refused before any change leaves "
            f"the key free. Reused with another body: 400; while the first request with it "
            f"still runs: a wait of up to {WAIT_SECONDS:.0f} s for its answer, then 409. A "
            f"request carried out whose answer was lost is not run again: 400 saying when it "
            f"was carried out (after a 500, at once; once the service stopped before keeping "
            f"it, after {LEASE.total_seconds() / 60:.0f} min)."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": r"\S"},
    }
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in spec.get("paths", {}).items():
        if not path.startswith(API_PREFIXES):
            continue
        for method, operation in operations.items():
            if method.upper() not in METHODS:
                continue
            operation.setdefault("parameters", []).append(parameter)
            operation.setdefault("responses", {}).setdefault(
                "409",
                {
                    "description": f"A request with this {HEADER} is still running; retry "
                    "after Retry-After",
                    "headers": {
                        "Retry-After": {
                            "description": "Seconds to wait before retrying",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1},
                        }
                    },
                    "content": {"application/json": {"schema": error}},
                },
            )
