"""Building list and record responses: one place for paging and links (the records'
JSON comes built by the store)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import Depends
from starlette.requests import Request

from producersync.model import is_npn
from producersync.model.events import NpnActivated, utc_now
from producersync.service.api.cursor import START, CursorCodec
from producersync.service.api.hal import href
from producersync.service.api.resources import Resource
from producersync.service.auth.bearer import current_principal
from producersync.service.auth.principal import Principal
from producersync.service.context import ServiceContext, get_context
from producersync.service.delivery.publish import publish_events
from producersync.service.errors import ApiError
from producersync.service.served_under import after_root
from producersync.service.store.documents import root_links
from producersync.service.store.engine import read_snapshot, write_transaction
from producersync.service.store.jobs import known_npns
from producersync.service.store.population import Population, is_visible, subscribe_one
from producersync.service.store.records import (
    RecordFilter,
    Row,
    Scope,
    count_records,
    list_after,
    list_offset,
    record_document,
    record_npn,
)

__all__ = ["Call", "request_call"]


@dataclass
class Call:
    """One API request: who asks, through which service, for what."""

    request: Request
    principal: Principal

    @cached_property
    def ctx(self) -> ServiceContext:
        return get_context(self.request)

    @cached_property
    def population(self) -> Population:
        return Population(self.principal.account_id, self.principal.sandbox)

    @cached_property
    def base(self) -> str:
        return (self.ctx.settings.public_url or str(self.request.base_url)).rstrip("/")

    @cached_property
    def cursors(self) -> CursorCodec:
        return self.ctx.cursors

    # -- population ---------------------------------------------------------------

    def checked_npn(self, npn: str) -> str:
        if not is_npn(npn):
            raise ApiError.bad_parameter(
                "npn", npn, "an NPN is 1 to 10 digits", noun="path parameter"
            )
        return npn

    def auto_subscribe(self, npn: str) -> None:
        """Per-NPN reads subscribe the NPN, as the real API does; unknown NPNs are 404."""
        self.checked_npn(npn)
        with self.ctx.engine.connect() as conn:
            if is_visible(conn, self.population, npn):
                return
            if not known_npns(conn, [npn]):
                raise ApiError(404, f"No producer with NPN {npn} is known to NIPR")
        now = utc_now()
        with write_transaction(self.ctx.engine) as conn:
            if not subscribe_one(conn, self.population, npn, now):
                return
            event = NpnActivated.create(npn, now, timestamp=now)
            published = publish_events(conn, self.population.account_id, [event])
        if published:
            self.ctx.published()

    # -- records ------------------------------------------------------------------

    def v2_page(
        self, resource: Resource, scope: Scope, f: RecordFilter, token: str | None, size: int
    ) -> dict[str, Any]:
        after = self.position(f, token)
        with self.ctx.engine.connect() as conn:
            rows = list_after(conn, resource.table, scope, f, after, size)
        this = href(self.request, self.base, continuationToken=token or START)
        if not rows:
            # The end of the list: no `embedded`, and next at continuationToken=0.
            return {
                "links": {
                    "self": this,
                    "next": href(self.request, self.base, continuationToken=START),
                }
            }
        last = rows[-1]
        listing = self.listing(f)
        token_next = self.cursors.encode(self.principal.account_id, listing, last.npn, last.id)
        return {
            "embedded": {resource.key: self.documents(rows)},
            "links": {
                "self": this,
                "next": href(self.request, self.base, continuationToken=token_next),
            },
        }

    def v1_page(
        self, resource: Resource, scope: Scope, f: RecordFilter, page: int, size: int
    ) -> dict[str, Any]:
        with read_snapshot(self.ctx.engine) as conn:
            total = count_records(conn, resource.table, scope, f)
            rows = list_offset(conn, resource.table, scope, f, page, size) if total else []
        return self.paged(resource.key, self.documents(rows) if rows else [], page, size, total)

    def paged(
        self, key: str, items: orjson.Fragment | list[Any], page: int, size: int, total: int
    ) -> dict[str, Any]:
        """The v1 page envelope: embedded (when not empty), links, page."""
        pages = math.ceil(total / size) if total else 0
        last = max(pages - 1, 0)
        links: dict[str, Any] = {
            "self": href(self.request, self.base, page=page, size=size),
            "first": href(self.request, self.base, page=0, size=size),
            "last": href(self.request, self.base, page=last, size=size),
        }
        if page < last:
            links["next"] = href(self.request, self.base, page=page + 1, size=size)
        if 0 < page <= last + 1:
            links["prev"] = href(self.request, self.base, page=min(page - 1, last), size=size)
        body: dict[str, Any] = {
            "links": links,
            "page": {"size": size, "totalElements": total, "totalPages": pages, "number": page},
        }
        if items:
            body["embedded"] = {key: items}
        return body

    def visible_npn(self, conn: sa.Connection, resource: Resource, record_id: int) -> str:
        """The NPN of a record, or 404 if it does not exist or is outside the population."""
        npn = record_npn(conn, resource.table, record_id)
        if npn is None or not is_visible(conn, self.population, npn):
            raise ApiError(404, f"No {resource.singular} with id {record_id}")
        return npn

    def visible_record(self, resource: Resource, record_id: int) -> orjson.Fragment:
        with self.ctx.engine.connect() as conn:
            self.visible_npn(conn, resource, record_id)
            doc = record_document(conn, resource.table, record_id)
        assert doc is not None  # it was there a moment ago and records are never deleted
        return self.rooted(doc)

    def rooted(self, document: str) -> orjson.Fragment:
        """A record's JSON from the store, its links rooted at this request's base URL."""
        return orjson.Fragment(root_links(document, self.base))

    def documents(self, rows: list[Row]) -> orjson.Fragment:
        """The rows' records as one JSON array, embedded as is: the database built them,
        and one pass roots every link of the page."""
        return self.rooted("[" + ",".join(row.document for row in rows) + "]")

    def position(self, f: RecordFilter, token: str | None) -> tuple[str, int] | None:
        """Where a continuation token says to resume; a 400 for a token not of this list
        under these filters."""
        return self.cursors.decode(self.principal.account_id, self.listing(f), token)

    def listing(self, f: RecordFilter) -> str:
        """What a token is bound to: the list's path and its filters. A position is one
        in the order of every listing, so a token taken to other filters was answered:
        from npns=B to npns=A, with A before B, as an empty list, and without filters
        with the records before B left out. Not ``size``: a client may change it as it
        goes, and each page is the same seek."""
        selection = _selection(f)
        # After the root path: a token stays good as the service is put under a prefix.
        path = after_root(self.request.url.path, self.request.scope.get("root_path", ""))
        # Unfiltered, the path alone: the tokens issued before filters counted stay good.
        return f"{path}?{selection}" if selection else path


def _selection(f: RecordFilter) -> str:
    """The filters set, as text that is the same for any two selecting the same records
    (a list's order and repeats aside). Those left at their default are not named: a
    filter added later leaves the tokens issued before it good."""
    parts = []
    for field in fields(f):
        value = getattr(f, field.name)
        if value == field.default:
            continue
        if isinstance(value, tuple):
            value = ",".join(sorted(set(map(str, value))))
        parts.append(f"{field.name}={value}")
    return "&".join(parts)


async def request_call(request: Request, principal: Principal = Depends(current_principal)) -> Call:
    # A coroutine, though it never waits: as ``current_principal``, no thread hop.
    return Call(request, principal)
