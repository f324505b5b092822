"""The record resources the API serves, described once; routers are built from this table."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from producersync.model import (
    Address,
    Appointment,
    ContactInfo,
    Entity,
    License,
    LicenseLoa,
    OtherName,
    Record,
    RegulatoryAction,
    RegulatoryActionValue,
)
from producersync.service.store import tables

__all__ = ["BY_KEY", "RESOURCES", "Resource"]


@dataclass(frozen=True, slots=True)
class Resource:
    key: str  # path segment and `embedded` key: "licenses"
    table: sa.Table
    model: type[Record]
    tag: str
    filters: tuple[str, ...]  # query filters beyond npns/updatedSince/includeDeleted/size
    per_npn: bool = True  # has /v2/entities/{npn}/<key>
    v2_list: bool = True  # has /v2/<key> (and so /v1/<key>)
    status_values: tuple[str, ...] = ()
    list_operation: str | None = None  # operationId of GET /v2/<key>, where the docs name it
    by_id_operation: str | None = None  # operationId of GET /v1/<key>/{id}, likewise

    @property
    def singular(self) -> str:
        return self.model.__name__

    @property
    def capitalized(self) -> str:
        """The key as operation ids spell it: "LicenseLoas"."""
        return self.key[0].upper() + self.key[1:]


_STATES = ("states",)

RESOURCES: tuple[Resource, ...] = (
    Resource("entities", tables.entities, Entity, "Producer Entities", (), per_npn=False),
    Resource(
        "licenses",
        tables.licenses,
        License,
        "Producer Licenses and LOAs",
        (*_STATES, "active", "loaCodes", "loaCategories"),
    ),
    Resource(
        "licenseLoas",
        tables.license_loas,
        LicenseLoa,
        "Producer Licenses and LOAs",
        (*_STATES, "loaCodes", "loaCategories", "status"),
        per_npn=False,
        status_values=("Active", "Cancelled", "Inactive"),
    ),
    Resource(
        "appointments",
        tables.appointments,
        Appointment,
        "Producer Appointments",
        (*_STATES, "coCodes", "status", "loaCodes", "loaCategories"),
        status_values=("APPOINTED", "TERMINATED"),
    ),
    Resource("addresses", tables.addresses, Address, "Producer Addresses", _STATES),
    Resource(
        "contactInfos", tables.contact_infos, ContactInfo, "Producer Contact Information", _STATES
    ),
    Resource(
        "otherNames",
        tables.other_names,
        OtherName,
        "Producer Other Names",
        _STATES,
        list_operation="getOtherNamesForSubscribedNpns",
    ),
    Resource(
        "regulatoryActions",
        tables.regulatory_actions,
        RegulatoryAction,
        "Producer Regulatory Actions",
        _STATES,
        by_id_operation="getRegulatoryActionsById",
    ),
    Resource(
        "regulatoryActionValues",
        tables.regulatory_action_values,
        RegulatoryActionValue,
        "Producer Regulatory Actions",
        (),
        per_npn=False,
        v2_list=False,
    ),
)

BY_KEY: dict[str, Resource] = {r.key: r for r in RESOURCES}
