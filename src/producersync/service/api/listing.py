"""Building list and record responses: one place for paging, hydration and links."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from fastapi import Depends
from starlette.requests import Request

from producersync.model import is_npn
from producersync.service.api.cursor import START, CursorCodec
from producersync.service.api.hal import href
from producersync.service.api.resources import BY_KEY, Resource
from producersync.service.api.serialize import Serializer, Wire
from producersync.service.auth.bearer import current_principal
from producersync.service.auth.principal import Principal
from producersync.service.context import ServiceContext, get_context
from producersync.service.errors import ApiError
from producersync.service.store.engine import write_transaction
from producersync.service.store.jobs import known_npns
from producersync.service.store.population import Population, is_visible, subscribe_one
from producersync.service.store.records import (
    RecordFilter,
    Row,
    Scope,
    children_of,
    count_records,
    get_record,
    list_after,
    list_offset,
    resident_licenses,
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
    def serializer(self) -> Serializer:
        return Serializer(self.base)

    @cached_property
    def cursors(self) -> CursorCodec:
        return self.ctx.cursors

    # -- population ---------------------------------------------------------------

    def checked_npn(self, npn: str) -> str:
        if not is_npn(npn):
            raise ApiError(400, f"Invalid NPN '{npn[:40]}': an NPN is 1 to 10 digits")
        return npn

    def auto_subscribe(self, npn: str) -> None:
        """Per-NPN reads subscribe the NPN, as the real API does; unknown NPNs are 404."""
        self.checked_npn(npn)
        with self.ctx.engine.connect() as conn:
            if is_visible(conn, self.population, npn):
                return
            if not known_npns(conn, [npn]):
                raise ApiError(404, f"No producer with NPN {npn} is known to NIPR")
        with write_transaction(self.ctx.engine) as conn:
            subscribe_one(conn, self.population, npn)

    # -- records ------------------------------------------------------------------

    def hydrate(
        self,
        conn: sa.Connection,
        resource: Resource,
        rows: list[Row],
        include_deleted: bool = True,
    ) -> list[Wire]:
        s = self.serializer
        wires = s.records(resource, rows)
        ids = [row.id for row in rows]
        if resource.key == "licenses":
            loas = children_of(
                conn,
                BY_KEY["licenseLoas"].table,
                "license_id",
                ids,
                include_deleted=include_deleted,
            )
            for wire in wires:
                wire["licenseLoas"] = s.records(BY_KEY["licenseLoas"], loas.get(wire["id"], []))
        elif resource.key == "regulatoryActions":
            values = children_of(
                conn,
                BY_KEY["regulatoryActionValues"].table,
                "regulatory_action_id",
                ids,
                include_deleted=include_deleted,
            )
            for wire in wires:
                wire["regulatoryActionValues"] = s.records(
                    BY_KEY["regulatoryActionValues"], values.get(wire["id"], [])
                )
        elif resource.key == "entities":
            resident = resident_licenses(conn, [row.npn for row in rows])
            for wire in wires:
                s.entity_links(wire, resident.get(wire["npn"]))
        return wires

    def v2_page(
        self, resource: Resource, scope: Scope, f: RecordFilter, token: str | None, size: int
    ) -> dict[str, Any]:
        path = self.request.url.path
        after = self.position(token)
        with self.ctx.engine.connect() as conn:
            rows = list_after(conn, resource.table, scope, f, after, size)
            wires = self.hydrate(conn, resource, rows, f.include_deleted)
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
        token_next = self.cursors.encode(self.principal.account_id, path, last.npn, last.id)
        return {
            "embedded": {resource.key: wires},
            "links": {
                "self": this,
                "next": href(self.request, self.base, continuationToken=token_next),
            },
        }

    def v1_page(
        self, resource: Resource, scope: Scope, f: RecordFilter, page: int, size: int
    ) -> dict[str, Any]:
        with self.ctx.engine.connect() as conn:
            total = count_records(conn, resource.table, scope, f)
            rows = list_offset(conn, resource.table, scope, f, page, size) if total else []
            wires = self.hydrate(conn, resource, rows, f.include_deleted)
        return self.paged(resource.key, wires, page, size, total)

    def paged(self, key: str, items: list[Any], page: int, size: int, total: int) -> dict[str, Any]:
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

    def visible_row(self, conn: sa.Connection, resource: Resource, record_id: int) -> Row:
        """One row by id, or 404 if it does not exist or is outside the population."""
        row = get_record(conn, resource.table, record_id)
        if row is None or not is_visible(conn, self.population, row.npn):
            raise ApiError(404, f"No {resource.singular} with id {record_id}")
        return row

    def visible_record(self, resource: Resource, record_id: int) -> Wire:
        with self.ctx.engine.connect() as conn:
            return self.hydrate(conn, resource, [self.visible_row(conn, resource, record_id)])[0]

    def position(self, token: str | None) -> tuple[str, int] | None:
        """Where a continuation token says to resume; a 400 for a token not of this list."""
        return self.cursors.decode(self.principal.account_id, self.request.url.path, token)


def request_call(request: Request, principal: Principal = Depends(current_principal)) -> Call:
    return Call(request, principal)
