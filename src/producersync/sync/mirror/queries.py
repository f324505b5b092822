"""Read-only queries behind the compliance checks and reports, returning plain rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import orjson
import sqlalchemy as sa

from producersync.model import STATE_CODES, is_co_code
from producersync.model.dates import iso_date
from producersync.model.npn import npn_spellings
from producersync.sync.mirror.population import owed_fetch
from producersync.sync.mirror.tables import (
    MIRRORED,
    WORD_INDEXED,
    appointments,
    license_loas,
    licenses,
    malformed,
    population,
    regulatory_action_values,
    regulatory_actions,
    word_key,
)

__all__ = [
    "AppointmentRow",
    "LicenseRow",
    "LoaRow",
    "LoaTerms",
    "Pending",
    "PopulationRow",
    "RegulatoryActionRow",
    "appointments_with",
    "holds_a_license",
    "iter_licenses_expiring",
    "licenses_expiring",
    "licenses_in_state",
    "licenses_of",
    "loa_terms",
    "pending_fetches",
    "population_entry",
    "regulatory_actions_in",
    "sample_authority",
    "stored_npns",
    "stored_records",
]


_READ_BATCH = 1_000  # rows fetched at a time by a query read as it goes
_UNREADABLE = "unreadable_"  # the label of a field's unreadable value, before its name
# The record's dates without a column of their own: wire name -> row attribute.
_RECORD_DATES = {
    "originalIssueDate": "original_issue_date",
    "issueDate": "issue_date",
    "statusReasonDate": "status_reason_date",
    "effectiveDate": "effective_date",
}


@dataclass(frozen=True)
class PopulationRow:
    npn: str
    active: bool
    activated_at: dt.datetime | None
    deactivated_at: dt.datetime | None
    # Whether the mirror holds a license or an appointment of it written before its
    # (current) activation: subscribed again after a deactivation, it holds those of
    # before, not synced while it was not monitored.
    held_before: bool = False


@dataclass(frozen=True)
class LoaRow:
    id: int
    loa: str | None
    loa_code: str | None
    categories: list[str]
    status: str | None
    ce_compliance: str | None
    nipr_deleted: bool
    issue_date: dt.date | None = None
    status_reason_date: dt.date | None = None  # since when ``status`` holds
    updated_at: dt.date | None = None  # ``updatedAt``: the record unchanged since
    # ``ceCreditsNeeded``, kept only in the record: a whole number, else ``unreadable``.
    ce_credits_needed: int | None = None
    unreadable: Mapping[str, str] = field(default_factory=dict)  # see ``LicenseRow``


@dataclass(frozen=True)
class LicenseRow:
    id: int
    npn: str | None
    state: str | None
    license_num: str | None
    license_class: str | None
    residency_status: str | None
    active: bool | None
    expiration_date: dt.date | None
    nipr_deleted: bool
    original_issue_date: dt.date | None = None
    updated_at: dt.date | None = None  # ``updatedAt``: the record unchanged since
    loas: tuple[LoaRow, ...] = ()
    # The fields a compliance answer reads that the mirror could not: wire name -> the
    # value as it came (its repr). Its attribute is then NULL (``nipr_deleted``: false),
    # which must not read as "no expiration date", "not deleted", "none reported".
    unreadable: Mapping[str, str] = field(default_factory=dict)
    # Its NPN's re-activation, when the mirror wrote the license before it and no fetch
    # since it has finished: the license is as it was while the NPN was not monitored
    # (``iter_licenses_expiring`` reads it; None elsewhere).
    fetching_again_since: dt.datetime | None = None
    # What the mirror cannot tell of it, as ``check`` words it (``compliance.expiring``
    # says it of a license ``fetching_again_since`` dates).
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppointmentRow:
    id: int
    co_code: str | None
    company_name: str | None
    state: str | None
    loa: str | None
    loa_code: str | None
    categories: list[str]
    status: str | None
    termination_reason: str | None
    nipr_deleted: bool
    status_reason_date: dt.date | None = None  # since when ``status`` holds
    unreadable: Mapping[str, str] = field(default_factory=dict)  # see ``LicenseRow``


@dataclass(frozen=True)
class RegulatoryActionRow:
    id: int
    state: str | None
    action_id: str | None
    action_date: dt.date | None
    effective_date: dt.date | None = None
    # As the record holds them (the API's integers; their unit, for the order, unstated).
    length_of_order: Any = None
    penalty_fine_forfeiture: Any = None
    # Its values not niprDeleted, by id: (type, value), as DISPOSITION "License Suspended".
    values: tuple[tuple[str | None, str | None], ...] = ()
    unreadable: Mapping[str, str] = field(default_factory=dict)  # see ``LicenseRow``


def population_entry(conn: sa.Connection, npn: str) -> PopulationRow | None:
    """The NPN's entry, however it is written (``npn_spellings``; an active one first,
    should the API have activated two spellings of it). A ValueError for no NPN."""
    spellings = npn_spellings(npn)
    # In the same statement: a look-up of its own was a tenth of a check's time.
    held = _written_before(spellings, population.c.activated_at).label("held_before")
    entry = [population.c[f.name] for f in fields(PopulationRow) if f.name in population.c]
    query = sa.select(*entry, held).where(population.c.npn.in_(spellings))
    row = conn.execute(query.order_by(population.c.active.desc())).first()
    if row is None:
        return None
    return PopulationRow(**{**row._asdict(), "held_before": bool(row.held_before)})


def _written_before(spellings: list[str], at: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """Whether the mirror holds a license or an appointment of the NPN (written as any
    of ``spellings``) that it wrote before ``at``. Not its LOAs, which come nested in their licenses
    and are written with them: an LOA of before is one of a license of before."""
    return sa.or_(
        *(
            sa.exists().where(table.c.npn.in_(spellings), table.c.synced_at < at)
            for table in (licenses, appointments)
        )
    )


def holds_a_license(conn: sa.Connection, npn: str) -> bool:
    """Whether the mirror holds any license of the NPN, in any state (niprDeleted ones
    too), however it is written."""
    query = sa.select(licenses.c.id).where(licenses.c.npn.in_(npn_spellings(npn))).limit(1)
    return conn.execute(query).first() is not None


def licenses_in_state(conn: sa.Connection, npn: str, state: str) -> list[LicenseRow]:
    """The NPN's licenses in ``state`` (niprDeleted ones too), each with its LOAs; the
    NPN however it is written, as for ``population_entry``."""
    found = conn.execute(_licenses_of(npn).where(licenses.c.state == state)).all()
    loas: dict[int, list[LoaRow]] = {}
    if found:
        loa_query = (
            sa.select(license_loas.c.license_id, *_LOA_COLUMNS)
            .select_from(_LOAS_LISTED)
            .where(license_loas.c.license_id.in_([row.id for row in found]))
            .order_by(license_loas.c.id)
        )
        for row in conn.execute(loa_query):
            values = _typed(row._asdict())
            loas.setdefault(values.pop("license_id"), []).append(LoaRow(**values))
    return [LicenseRow(**_typed(row._asdict()), loas=tuple(loas.get(row.id, ()))) for row in found]


def licenses_of(conn: sa.Connection, npn: str) -> list[LicenseRow]:
    """The NPN's licenses in every state (niprDeleted ones too), without their LOAs;
    the NPN however it is written, as for ``population_entry``."""
    return [LicenseRow(**_typed(row._asdict())) for row in conn.execute(_licenses_of(npn))]


def _licenses_of(npn: str) -> sa.Select[Any]:
    return (
        sa.select(*_LICENSE_COLUMNS)
        .select_from(_LICENSES_LISTED)
        .where(licenses.c.npn.in_(npn_spellings(npn)))
        .order_by(licenses.c.id)
    )


def appointments_with(
    conn: sa.Connection, npn: str, state: str, co_code: str
) -> list[AppointmentRow]:
    """The NPN's appointments with carrier ``co_code`` in ``state`` (any status); the
    NPN however it is written, as for ``population_entry``."""
    query = (
        sa.select(*_APPOINTMENT_COLUMNS)
        .select_from(_APPOINTMENTS_LISTED)
        .where(
            appointments.c.npn.in_(npn_spellings(npn)),
            appointments.c.state == state,
            appointments.c.co_code == co_code,
        )
        .order_by(appointments.c.id)
    )
    return [AppointmentRow(**_typed(row._asdict())) for row in conn.execute(query)]


def regulatory_actions_in(conn: sa.Connection, npn: str, state: str) -> list[RegulatoryActionRow]:
    """The NPN's regulatory actions in ``state`` that are not niprDeleted, each with its
    values (disposition, reason, origin) that are not, by id; the NPN however it is
    written, as for ``population_entry``. Through the NPN's index, as its licenses."""
    r, v = regulatory_actions.c, regulatory_action_values.c
    query = (
        sa.select(
            r.id,
            r.state,
            r.action_id,
            r.action_date,
            _record_date(regulatory_actions, "effectiveDate"),
            r.record["lengthOfOrder"].label("length_of_order"),
            r.record["penaltyFineForfeiture"].label("penalty_fine_forfeiture"),
        )
        .where(r.npn.in_(npn_spellings(npn)), r.state == state, r.nipr_deleted.is_(False))
        .order_by(r.id)
    )
    found = conn.execute(query).all()
    values: dict[int, list[tuple[str | None, str | None]]] = {}
    if found:
        value = _record_text(regulatory_action_values, "value")
        value_query = (
            sa.select(v.regulatory_action_id, v.type, value)
            .where(v.regulatory_action_id.in_([row.id for row in found]), v.nipr_deleted.is_(False))
            .order_by(v.id)
        )
        for action, type_, text in conn.execute(value_query):
            values.setdefault(action, []).append((type_, text))
    return [
        RegulatoryActionRow(**_typed(row._asdict()), values=tuple(values.get(row.id, ())))
        for row in found
    ]


def licenses_expiring(conn: sa.Connection, end: dt.date) -> list[LicenseRow]:
    """Active, not deleted licenses of the active population expiring by ``end`` (that
    day included), soonest first: those past their expirationDate but still active in
    the mirror (NIPR has not lapsed them yet, or the mirror lags), a producer selling on
    an expired license, come before the rest, the longest expired first. First of all
    come those whose expirationDate the mirror cannot read, which may expire on any day.
    A license whose ``active`` or ``niprDeleted`` the mirror cannot read counts as active
    and not deleted here, and one whose ``npn`` it cannot read (stored NULL, of no NPN
    of the population) as one of the active population. Each says what it could not
    read (``unreadable``): an unreadable value never hides a license from the report.
    One written before its NPN's re-activation, whose fetch since has not finished, says
    when (``fetching_again_since``): it may have been renewed, or have lapsed, since."""
    return list(iter_licenses_expiring(conn, end))


def iter_licenses_expiring(conn: sa.Connection, end: dt.date) -> Iterator[LicenseRow]:
    """``licenses_expiring``, read as it goes (on PostgreSQL through a server-side
    cursor), for a reader that hands each license on."""
    # In the same statement. The NPNs owed a fetch are read once, and only if a license
    # was written before its NPN's activation: a look-up of its activation's fetch per
    # license, costed for every one, lost PostgreSQL's parallel plan and took JIT
    # compiling (20,000 NPNs: 87 against 63 ms when none is, 122 against 95 ms when
    # 2,000 are being fetched again).
    entry = population.alias("owed")
    owed = sa.select(entry.c.npn).where(owed_fetch(entry))
    again = sa.and_(licenses.c.synced_at < population.c.activated_at, population.c.npn.in_(owed))
    query = (
        sa.select(
            *_LICENSE_COLUMNS,
            sa.case((again, population.c.activated_at)).label("fetching_again_since"),
        )
        .select_from(_LICENSES_LISTED)
        .outerjoin(population, population.c.npn == licenses.c.npn)
        .where(
            sa.or_(population.c.active, licenses.c.id.in_(_unreadable_ids("licenses", "npn"))),
            sa.or_(
                licenses.c.active.is_(True),
                licenses.c.id.in_(_unreadable_ids("licenses", "active")),
            ),
            licenses.c.nipr_deleted.is_(False),  # an unreadable one is stored false
        )
    )
    # An unreadable NPN (NULL) first on either database: PostgreSQL sorts NULL last.
    by_license = (licenses.c.npn.nulls_first(), licenses.c.state, licenses.c.id)
    undated = query.where(licenses.c.id.in_(_unreadable_ids("licenses", "expirationDate")))
    # No first day: one expired already, still active, is the most urgent of all.
    dated = query.where(licenses.c.expiration_date <= end)
    for part in (
        undated.order_by(*by_license),
        dated.order_by(licenses.c.expiration_date, *by_license),
    ):
        for row in conn.execute(part.execution_options(yield_per=_READ_BATCH)):
            yield LicenseRow(**_typed(row._asdict()))


@dataclass(frozen=True)
class Pending:
    """The active NPNs no fetch since their activation has finished for: the mirror
    holds none, or only some, of their records yet (or, subscribed again, those of
    before)."""

    count: int
    npns: tuple[str, ...]  # the first ones by NPN, as many as asked for


def pending_fetches(conn: sa.Connection, first: int) -> Pending:
    """How many active NPNs are owed a fetch (``population.owed_fetches``'s, of the
    whole population) and the ``first`` of them (1 or more) by NPN: one statement,
    which reads the population and, an NPN at a time, its fetch through their keys, never
    the records (the count over the window: none counted with no NPN read)."""
    if first < 1:
        raise ValueError(f"first must be 1 or more, not {first}")
    query = (
        sa.select(population.c.npn, sa.func.count().over().label("owed"))
        .where(owed_fetch(population))
        .order_by(population.c.npn)
        .limit(first)
    )
    rows = conn.execute(query).all()
    return Pending(rows[0].owed if rows else 0, tuple(row.npn for row in rows))


def _unreadable_ids(resource: str, field: str | None = None) -> sa.Select[tuple[int]]:
    """The records of ``resource`` with a field (``field``) the mirror could not read."""
    m = malformed.c
    query = sa.select(m.record_id).where(m.resource == resource)
    return query if field is None else query.where(m.field == field)


@dataclass(frozen=True)
class LoaTerms:
    """The words license LOAs carry (niprDeleted ones too), each once and sorted: the
    names, codes and categories a check's LOA can match."""

    names: list[str]
    codes: list[str]
    categories: list[str]


def loa_terms(conn: sa.Connection) -> LoaTerms:
    """The mirror's LOA words, read through each column's index a value at a time (a
    few hundred look-ups, however many LOAs there are): DISTINCT read every license
    LOA, 0.4 s on PostgreSQL for 700,000, a scan on SQLite too."""
    c = license_loas.c
    lists = [orjson.loads(text) for text in _distinct(conn, c.categories)]
    return LoaTerms(
        names=sorted(name for name in _distinct(conn, c.loa) if name),
        codes=sorted(code for code in _distinct(conn, c.loa_code) if code),
        categories=sorted({word for value in lists for word in _categories(value) if word}),
    )


def _distinct(conn: sa.Connection, column: sa.Column[Any]) -> list[str]:
    """``column``'s distinct values but NULL, as text (JSON's, its text), walked through
    its index (``word_key``): each key the least one greater than the last. Neither
    backend skips through an index by itself for a DISTINCT (PostgreSQL before 18 reads
    every entry, SQLite too). A key as long as the index keeps may be a longer value's
    beginning: those values are read by it, through the index too."""
    key = word_key(column)
    least = sa.select(key).where(key.is_not(None)).order_by(key).limit(1)
    walk = sa.select(least.scalar_subquery().label("value")).cte("walk", recursive=True)
    after = sa.select(key).where(key > walk.c.value).order_by(key).limit(1)
    walk = walk.union_all(sa.select(after.scalar_subquery()).where(walk.c.value.is_not(None)))
    keys = conn.execute(sa.select(walk.c.value).where(walk.c.value.is_not(None))).scalars()
    values: list[str] = []
    cut: list[str] = []
    for value in keys:
        (cut if len(value) >= WORD_INDEXED else values).append(value)
    if cut:
        whole = sa.select(sa.cast(column, sa.Text)).where(key.in_(cut)).distinct()
        values += conn.execute(whole).scalars()
    return values


def _record_date(table: sa.Table, key: str) -> sa.Label[str]:
    """A date of the wire record that has no column of its own (read for one check at a
    time, never filtered on): its ISO text, as the row's attribute for ``key``."""
    return _record_text(table, key).label(_RECORD_DATES[key])


def _record_text(table: sa.Table, key: str) -> sa.ColumnElement[str]:
    record: sa.Column[Any] = table.c.record
    text: sa.ColumnElement[str] = record[key].as_string()
    return text


def _listed(table: sa.Table, resource: str, *fields: str) -> tuple[sa.Join, list[sa.Label[str]]]:
    """``table`` joined with what ``malformed`` lists of its records' ``fields`` (typed
    columns' wire names: the mirror could not read them, their column NULL for it), and
    for each field its listed value's column. One grouped read of ``malformed`` a query,
    in the query's own snapshot: a subquery per field looked it up three times a license
    (25-35 % of ``report expiring``'s time), and a lookup of its own could see a record
    written since (unreadable, its column NULL, read as "no expiration date")."""
    m = malformed.c
    listed = (
        sa.select(
            m.record_id,
            *(sa.func.max(sa.case((m.field == name, m.value))).label(name) for name in fields),
        )
        .where(m.resource == resource, m.field.in_(fields))
        .group_by(m.record_id)
        .subquery(f"listed_{table.name}")
    )
    joined = table.outerjoin(listed, listed.c.record_id == table.c.id)
    return joined, [listed.c[name].label(_UNREADABLE + name) for name in fields]


_LICENSES_LISTED, _LICENSES_UNREADABLE = _listed(
    licenses, "licenses", "npn", "niprDeleted", "active", "expirationDate"
)
_LOAS_LISTED, _LOAS_UNREADABLE = _listed(
    license_loas, "licenseLoas", "niprDeleted", "status", "ceCompliance"
)
_APPOINTMENTS_LISTED, _APPOINTMENTS_UNREADABLE = _listed(
    appointments, "appointments", "niprDeleted", "status"
)
# Every such column's label, and its field: in the order each kind lists its fields.
_LABELS = {
    column.name: column.name.removeprefix(_UNREADABLE)
    for column in (*_LICENSES_UNREADABLE, *_LOAS_UNREADABLE, *_APPOINTMENTS_UNREADABLE)
}


_LICENSE_COLUMNS = (
    licenses.c.id,
    licenses.c.npn,
    licenses.c.state,
    licenses.c.license_num,
    licenses.c.license_class,
    licenses.c.residency_status,
    licenses.c.active,
    licenses.c.expiration_date,
    licenses.c.nipr_deleted,
    licenses.c.updated_at,
    _record_date(licenses, "originalIssueDate"),
    *_LICENSES_UNREADABLE,
)
_LOA_COLUMNS = (
    license_loas.c.id,
    license_loas.c.loa,
    license_loas.c.loa_code,
    license_loas.c.categories,
    license_loas.c.status,
    license_loas.c.ce_compliance,
    license_loas.c.nipr_deleted,
    license_loas.c.updated_at,
    _record_date(license_loas, "issueDate"),
    _record_date(license_loas, "statusReasonDate"),
    # As JSON, not text: 12 and "12" are told apart on either database.
    license_loas.c.record["ceCreditsNeeded"].label("ce_credits_needed"),
    *_LOAS_UNREADABLE,
)
_APPOINTMENT_COLUMNS = (
    appointments.c.id,
    appointments.c.co_code,
    appointments.c.company_name,
    appointments.c.state,
    appointments.c.loa,
    appointments.c.loa_code,
    appointments.c.categories,
    appointments.c.status,
    appointments.c.termination_reason,
    appointments.c.nipr_deleted,
    _record_date(appointments, "statusReasonDate"),
    *_APPOINTMENTS_UNREADABLE,
)


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """A row's values, with no categories (or unreadable ones) as an empty list, the
    dates read out of the record (ISO text) as dates, ceCreditsNeeded a whole number,
    and what the mirror could not read as ``unreadable``."""
    unreadable = {}
    for label, name in _LABELS.items():  # not every key's prefix: 10 % of a report's time
        value = values.pop(label, None)
        if value is not None:
            unreadable[name] = value
    for key, attribute in _RECORD_DATES.items():
        if attribute in values:
            raw = values[attribute]
            values[attribute] = _record_day(raw)
            if raw is not None and values[attribute] is None:
                unreadable[key] = repr(str(raw))  # SQLite answers a JSON number as one
    if "ce_credits_needed" in values:
        credits = values["ce_credits_needed"]
        if credits is not None and type(credits) is not int:  # a bool is no count either
            unreadable["ceCreditsNeeded"] = repr(credits)
            values["ce_credits_needed"] = None
    values["unreadable"] = unreadable
    if "categories" in values:
        values["categories"] = _categories(values["categories"])
    return values


def _categories(value: Any) -> list[str]:
    """A row's categories; none for one that is not a list of text. The mirror stores
    no such value now (it is malformed), but one stored before ("life", matched letter
    by letter) stays until its record changes."""
    if type(value) is list and all(type(item) is str for item in value):
        return value
    return []


def _by(text: object, day: dt.date) -> bool:
    """Whether ``text`` is a date on or before ``day``."""
    read = _record_day(text)
    return read is not None and read <= day


def _record_day(value: object) -> dt.date | None:
    """A record's date without a column of its own; None when it is not a date (blank,
    or text), which ``_typed`` lists as unreadable: the mirror keeps such a field as the
    API sent it, unchecked, and one record's unreadable date was a ValueError out of
    every check of the NPN in that state."""
    try:
        return None if value is None else iso_date(str(value))
    except ValueError:
        return None


def stored_records(conn: sa.Connection, resource: str) -> dict[int, dict[str, Any]]:
    """Every record of ``resource`` as the mirror holds it (the wire record), by id."""
    table = MIRRORED[resource].table
    return {row.id: row.record for row in conn.execute(sa.select(table.c.id, table.c.record))}


def stored_npns(conn: sa.Connection, resource: str) -> dict[int, str | None]:
    """Each record of ``resource`` the mirror holds, by id: its NPN (a nested child's,
    which its wire record may not repeat, taken from its parent)."""
    table = MIRRORED[resource].table
    return {row.id: row.npn for row in conn.execute(sa.select(table.c.id, table.c.npn))}


def sample_authority(conn: sa.Connection) -> tuple[str, str, str, str] | None:
    """Some (NPN, state, LOA, carrier coCode) the mirror shows as sellable today: an
    active NPN's active license with that LOA active, and a current appointment for it,
    none of the three with a field the mirror could not read (a NULL expiration date is
    then no "no expiration date", nor a NULL ceCompliance "none reported") or a date
    after today. For demonstrations and smoke checks; ``None`` when the mirror has none."""
    a, lic, loa = appointments, licenses, license_loas
    dated = (
        (lic, "originalIssueDate"),
        (loa, "issueDate"),
        (loa, "statusReasonDate"),
        (a, "statusReasonDate"),
    )
    dates = [_record_text(table, key) for table, key in dated]
    query = (
        sa.select(a.c.npn, a.c.state, a.c.loa, a.c.co_code, *dates)
        .join(population, sa.and_(population.c.npn == a.c.npn, population.c.active))
        .join(lic, sa.and_(lic.c.npn == a.c.npn, lic.c.state == a.c.state, lic.c.active))
        .join(loa, sa.and_(loa.c.license_id == lic.c.id, loa.c.loa == a.c.loa))
        .where(
            sa.func.lower(a.c.status).in_(("appointed", "active")),  # as check reads it
            sa.func.lower(loa.c.status) == "active",
            a.c.nipr_deleted.is_(False),
            lic.c.nipr_deleted.is_(False),
            loa.c.nipr_deleted.is_(False),
            sa.func.lower(sa.func.trim(sa.func.coalesce(loa.c.ce_compliance, ""))).in_(
                ("", "in compliance", "exempt", "n/a")  # as check reads it
            ),
            sa.or_(
                lic.c.expiration_date.is_(None), lic.c.expiration_date >= sa.func.current_date()
            ),
            *(
                table.c.id.not_in(_unreadable_ids(resource))
                for table, resource in (
                    (a, "appointments"),
                    (lic, "licenses"),
                    (loa, "licenseLoas"),
                )
            ),
        )
        .order_by(a.c.npn, a.c.id)
    )
    today = dt.date.today()
    # The dates kept only in the records are no ISO text SQL could read in both
    # databases: read here, as check reads them, until a sample has all of them right.
    with conn.execute(query.execution_options(yield_per=_READ_BATCH)) as found:
        for npn, state, loa_name, co_code, *texts in found:
            # A state or coCode check refuses to ask about (the API's, not ours) is none.
            asked = state in STATE_CODES and co_code is not None and is_co_code(co_code)
            if asked and all(text is None or _by(text, today) for text in texts):
                return npn, state, loa_name, co_code
    return None
