"""The ProducerSync records, as the API serves them (camelCase on the wire).

Unknown fields are kept (``extra="allow"``) so that a newer API never breaks an older
client, and every field but ``id`` is optional for the same reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

__all__ = [
    "Address",
    "AddressType",
    "Appointment",
    "AppointmentStatus",
    "CeCompliance",
    "ContactInfo",
    "ContactInfoType",
    "Entity",
    "EntityType",
    "Href",
    "License",
    "LicenseLoa",
    "LoaMapping",
    "LoaStatus",
    "OtherName",
    "OtherNameType",
    "Record",
    "RegulatoryAction",
    "RegulatoryActionValue",
    "RegulatoryActionValueType",
    "RenewalPeriods",
    "RenewalType",
    "RenewalWindow",
    "ResidencyStatus",
    "nested_list",
    "null_as_absent",
]


class EntityType(StrEnum):
    INDIVIDUAL = "INDIVIDUAL"
    FIRM = "FIRM"


class AddressType(StrEnum):
    BUSINESS = "BUSINESS"
    MAILING = "MAILING"
    RESIDENCE = "RESIDENCE"


class ContactInfoType(StrEnum):
    BUSINESS_PHONE = "BUSINESS_PHONE"
    BUSINESS_EMAIL = "BUSINESS_EMAIL"
    FAX = "FAX"


class OtherNameType(StrEnum):
    ALIAS = "ALIAS"
    FIRM_BRANCH = "FIRM_BRANCH"
    PREVIOUS = "PREVIOUS"


class AppointmentStatus(StrEnum):
    APPOINTED = "APPOINTED"
    TERMINATED = "TERMINATED"


class LoaStatus(StrEnum):
    ACTIVE = "Active"
    CANCELLED = "Cancelled"
    INACTIVE = "Inactive"


class CeCompliance(StrEnum):
    EXEMPT = "EXEMPT"
    IN_COMPLIANCE = "IN COMPLIANCE"
    NOT_APPLICABLE = "N/A"
    NOT_IN_COMPLIANCE = "NOT IN COMPLIANCE"


class ResidencyStatus(StrEnum):
    RESIDENT = "R"
    NON_RESIDENT = "NR"


class RenewalType(StrEnum):
    RENEWAL_REQUIRED = "RENEWAL_REQUIRED"
    PERPETUAL = "PERPETUAL"
    NO_RENEWAL_INFORMATION_AVAILABLE = "NO_RENEWAL_INFORMATION_AVAILABLE"


class RegulatoryActionValueType(StrEnum):
    REASON = "REASON"
    ORIGIN = "ORIGIN"
    DISPOSITION = "DISPOSITION"


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=False
    )


def null_as_absent(absent: Callable[[], Any]) -> BeforeValidator:
    """For a field that has a value even when it is absent (``absent()``, its default):
    a null reads as that. Jackson, which the public API's Spring runs, writes a field it
    has no value for as null, and refused, that null refused its whole page."""
    return BeforeValidator(lambda value: absent() if value is None else value)


def nested_list(value: Any, key: str) -> Any:
    """A record's nested list under ``key`` as the reference types it either way: the
    array itself, or the object holding it under ``key`` (``RegulatoryActionValuesV2``,
    a regulatory action's ``regulatoryActionValues``, is ``{"regulatoryActionValues":
    [...]}``; a license's ``licenseLoas`` is described as ``LicenseLoaV2``, that
    container). That object gives what it holds; any other value is given as it came,
    for the reader to take or refuse. Read as a list alone, the object refused the whole
    page its record was on (the SDK), or was set aside unstored (the sync's mirror)."""
    return value[key] if isinstance(value, dict) and key in value else value


def _contained(key: str) -> BeforeValidator:
    return BeforeValidator(lambda value: nested_list(value, key))


class Href(_Wire):
    href: str


class LoaMapping(_Wire):
    categories: Annotated[list[str], null_as_absent(list)] = Field(default_factory=list)


class RenewalWindow(_Wire):
    start_date: dt.date | None = None
    end_date: dt.date | None = None


class RenewalPeriods(_Wire):
    renewal: RenewalWindow | None = None
    late_renewal: RenewalWindow | None = None
    reinstatement: RenewalWindow | None = None
    renewal_type: RenewalType | str | None = None


class Record(_Wire):
    """Fields every ProducerSync record carries."""

    id: int
    transaction_id: str | None = None
    created_at: dt.date | None = None
    updated_at: dt.date | None = None
    nipr_deleted: bool | None = None
    # Plain dicts, not models: a page holds thousands of links, and each model instance
    # is several objects for the garbage collector to scan. Kept as they came: HAL lets a
    # link carry more than strings (``"templated": true``) and a relation hold a list of
    # links, and typed as strings alone, one such link refused its whole page. Typed as
    # the JSON it is, not ``Any``: a ``mypy --strict`` caller indexing it blindly
    # (``links["self"]["href"]``, a relation that may be a list or absent) is told so.
    links: dict[str, JsonValue] | None = None


class Entity(Record):
    npn: str | None = None
    type: EntityType | str | None = None
    fein_id: str | None = None
    company_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    date_of_birth: dt.date | None = None
    no_licenses: bool | None = None
    subscription_count: int | None = None


class LicenseLoa(Record):
    license_id: int | None = None
    npn: str | None = None
    for_state: str | None = None
    loa: str | None = None
    loa_code: str | None = None
    issue_date: dt.date | None = None
    status: LoaStatus | str | None = None
    status_reason_date: dt.date | None = None
    ce_compliance: CeCompliance | str | None = None
    ce_credits_needed: int | None = None
    loa_mapping: LoaMapping | None = None


class License(Record):
    npn: str | None = None
    for_state: str | None = None
    branch_id: str | None = None
    nipr_date_updated: dt.date | None = None
    license_num: str | None = None
    original_issue_date: dt.date | None = None
    expiration_date: dt.date | None = None
    license_class: str | None = None
    license_class_code: str | None = None
    residency_status: ResidencyStatus | str | None = None
    active: bool | None = None
    agent_types: list[str] | None = None
    license_loas: Annotated[list[LicenseLoa] | None, _contained("licenseLoas")] = None
    renewal_periods: RenewalPeriods | None = None


class Appointment(Record):
    npn: str | None = None
    for_state: str | None = None
    branch_id: str | None = None
    company_name: str | None = None
    fein_id: str | None = None
    co_code: str | None = None
    loa: str | None = None
    loa_code: str | None = None
    status: AppointmentStatus | str | None = None
    status_reason_date: dt.date | None = None
    termination_reason: str | None = None
    county_code: str | None = None
    loa_mapping: LoaMapping | None = None


class Address(Record):
    npn: str | None = None
    type: AddressType | str | None = None
    for_state: str | None = None
    branch_id: str | None = None
    nipr_date_updated: dt.date | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class ContactInfo(Record):
    npn: str | None = None
    type: ContactInfoType | str | None = None
    for_state: str | None = None
    branch_id: str | None = None
    nipr_date_updated: dt.date | None = None
    value: str | None = None


class OtherName(Record):
    npn: str | None = None
    type: OtherNameType | str | None = None
    for_state: str | None = None
    branch_id: str | None = None
    state_co_id: str | None = None
    name: str | None = None


class RegulatoryActionValue(Record):
    regulatory_action_id: int | None = None
    npn: str | None = None
    type: RegulatoryActionValueType | str | None = None
    value: str | None = None


class RegulatoryAction(Record):
    npn: str | None = None
    for_state: str | None = None
    action_id: str | None = None
    action_date: dt.date | None = None
    effective_date: dt.date | None = None
    enter_date: dt.date | None = None
    penalty_fine_forfeiture: int | None = None
    length_of_order: int | None = None
    regulatory_action_values: Annotated[
        list[RegulatoryActionValue] | None, _contained("regulatoryActionValues")
    ] = None
