"""Feed files: a day's NIPR changes as JSON lines, one change a line (docs/service.md).

    {"op": "upsert", "type": "licenses", "record": {"id": 7, "npn": "1234567", ...}}
    {"op": "delete", "type": "appointments", "id": 123}

An upsert carries the whole record as the API serves it (camelCase); fields it leaves
out are null. A delete is a NIPR deletion: the record stays, ``niprDeleted`` true, and so
do the records nested in it. ``read_feed`` checks every line on its own and
``plan_feed`` checks them against the store, both before anything is written; the first
bad line is a ``FeedError`` naming the line and the field.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import sqlalchemy as sa
from pydantic.alias_generators import to_camel

from producersync.model import records as m
from producersync.model.npn import is_npn
from producersync.model.states import STATE_CODES
from producersync.service.api.numbers import MAX_ROW_ID
from producersync.service.settings import ServiceSettings
from producersync.service.store import churn
from producersync.service.store import tables as t
from producersync.settings_variables import variable

__all__ = [
    "FEED_TYPES",
    "MAX_FEED_ID",
    "STDIN",
    "FeedError",
    "FeedLimits",
    "FeedLine",
    "plan_feed",
    "read_feed",
]

Row = dict[str, Any]

_SIZE_SETTING = variable(ServiceSettings, "nipr_feed_max_bytes")
_LINE_SETTING = variable(ServiceSettings, "nipr_feed_max_line_bytes")
DEFAULT_MAX_BYTES: int = ServiceSettings.model_fields["nipr_feed_max_bytes"].default
DEFAULT_MAX_LINE_BYTES: int = ServiceSettings.model_fields["nipr_feed_max_line_bytes"].default

# The "type" of a line: each record table under the API's name for its records.
FEED_TYPES: dict[str, sa.Table] = {str(to_camel(table.name)): table for table in t.RECORD_TABLES}
# Wire fields the run sets itself, or the store keeps: accepted in a record and ignored.
_IGNORED = frozenset({"createdAt", "updatedAt", "links", "subscriptionCount"})
# Store columns a feed never writes.
_UNWRITTEN = frozenset(
    {"created_at", "updated_at", "subscription_count", "last_nipr_entity_update"}
)


def _values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


# The contract's vocabularies: the client's models take any string for the last three
# (a newer API must not break an older client), the service's input may not.
_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("entities", "type"): _values(m.EntityType),
    ("license_loas", "status"): _values(m.LoaStatus),
    ("appointments", "status"): _values(m.AppointmentStatus),
    ("addresses", "type"): _values(m.AddressType),
    ("contact_infos", "type"): _values(m.ContactInfoType),
    ("other_names", "type"): _values(m.OtherNameType),
    ("regulatory_action_values", "type"): _values(m.RegulatoryActionValueType),
    ("license_loas", "ce_compliance"): _values(m.CeCompliance),
    ("licenses", "residency_status"): _values(m.ResidencyStatus),
}
# The ids a feed may give a record (and a nested record's parent): those every JSON parser
# reads exactly (RFC 8259 §6; JavaScript's Number.MAX_SAFE_INTEGER), which the API's
# clients read back. NIPR's are far below; one near 2^63 (a typo, a hash) stored, the next
# synthetic run, which numbers new records from each table's highest id, would go past a
# BIGINT: a traceback on every run from then on. Above this bound, 2^63 - 2^53 ids
# are left for those runs to number.
MAX_FEED_ID = 2**53 - 1
_MAX_COUNT = 2**31 - 1  # an INTEGER column
# ``--feed -``: standard input, read within the same limits as a file.
STDIN = Path("-")
# No record NIPR keeps (it began in 1996) is dated before: 0001-01-01 is a date some
# systems write for none, which a feed writes as null. 9999-12-31, a date some write for
# "never expires", is a date a record can hold.
EARLIEST_DATE = dt.date(1800, 1, 1)
# Dates of one record that no record holds in the other order: (earlier, later). No other
# order is impossible, so none is refused: a regulatory action's dates (of the action,
# its effect, its entry) are each a state's, and an LOA's or an appointment's
# statusReasonDate, or a license's issue date, may be dated ahead of the run. A
# date of birth cannot: ``plan_feed`` refuses one after the run's date.
_DATE_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "licenses": (("original_issue_date", "expiration_date"),),
}
_CO_CODE = re.compile(r"[0-9]{5}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PARENT_IDS = frozenset(column for _, _, column in churn.NESTED)
# The keys of each kind of line.
_KEYS = {"upsert": frozenset({"op", "type", "record"}), "delete": frozenset({"op", "type", "id"})}


class FeedError(ValueError):
    """A feed file that cannot be applied; ``line`` and ``field`` say where, when known."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        where = ", ".join(
            part
            for part in (f"line {line}" if line else "", f"field {field}" if field else "")
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.line = line
        self.field = field


class _Invalid(ValueError):
    """A value's problem; the caller knows the line and the field."""


@dataclass(frozen=True, slots=True)
class FeedLine:
    number: int
    op: str  # "upsert" or "delete"
    table: sa.Table
    id: int
    row: Row | None  # an upsert's record, as store columns


# --- the file alone -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedLimits:
    """How much of a file ``read_feed`` reads before refusing it: every line is parsed
    and held until the run commits (about 5 bytes of memory per byte of file), so an
    endless file (``/dev/zero``) or a line without end would exhaust memory first."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


def read_feed(path: Path, limits: FeedLimits | None = None) -> list[FeedLine]:
    """Every change of the file, each line checked on its own (blank lines are skipped)."""
    lines: list[FeedLine] = []
    seen: dict[tuple[str, int], int] = {}
    for number, text in _texts(path, limits or FeedLimits()):
        if not text.strip():
            continue
        line = _line(number, text)
        key = (line.table.name, line.id)
        if key in seen:
            raise FeedError(
                f"{to_camel(line.table.name)} {line.id} already changes on line {seen[key]}",
                number,
                "id",
            )
        seen[key] = number
        lines.append(line)
    if not lines:
        # Run, it would claim the date for good: the day's real file, given next, would
        # be told the date was applied already.
        raise FeedError("the file holds no change (it is empty or blank)")
    return lines


def _texts(path: Path, limits: FeedLimits) -> Iterator[tuple[int, bytes]]:
    """The file's lines and their numbers, read no further than ``limits``."""
    try:
        with _opened(path) as file:
            size = os.fstat(file.fileno()).st_size
            if size > limits.max_bytes:  # a regular file's: refused before reading it
                raise FeedError(f"the file is {size:,} bytes, {_too_big(limits)}")
            total = 0
            number = 0
            # Two bytes more than a line may hold: its \r\n.
            while chunk := file.readline(limits.max_line_bytes + 2):
                number += 1
                total += len(chunk)
                if total > limits.max_bytes:  # one that grows, a pipe, a device
                    raise FeedError(f"the file goes on, {_too_big(limits)}", number)
                text = chunk.removesuffix(b"\n").removesuffix(b"\r")
                if len(text) > limits.max_line_bytes:
                    raise FeedError(
                        f"longer than {limits.max_line_bytes:,} bytes, the most a line may "
                        f"hold (setting {_LINE_SETTING})",
                        number,
                    )
                yield number, _without_bom(text) if number == 1 else text
    except OSError as exc:
        raise FeedError(f"cannot read the file ({exc.strerror})") from exc


def _opened(path: Path) -> AbstractContextManager[BinaryIO]:
    # Standard input is the caller's to close.
    return nullcontext(sys.stdin.buffer) if path == STDIN else path.open("rb")


def _without_bom(text: bytes) -> bytes:
    # Windows editors start UTF-8 with a byte order mark, which JSON parsers may ignore
    # (RFC 8259) and orjson refuses; a UTF-16 file would be refused line by line as
    # "not valid JSON".
    if text.startswith(codecs.BOM_UTF8):
        return text[len(codecs.BOM_UTF8) :]
    if text.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FeedError("the file is UTF-16 or UTF-32 (a byte order mark), not UTF-8", 1)
    return text


def _too_big(limits: FeedLimits) -> str:
    return f"more than the {limits.max_bytes:,} bytes a feed may hold (setting {_SIZE_SETTING})"


def _line(number: int, text: bytes) -> FeedLine:
    try:
        change = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FeedError(_not_json(text, exc), number) from exc
    _refuse_twice(number, text, change)
    if not isinstance(change, dict):
        raise FeedError("a change must be a JSON object", number)
    op = change.get("op")
    if not isinstance(op, str) or op not in _KEYS:
        raise FeedError(f'must be "upsert" or "delete", not {_show(op)}', number, "op")
    keys = _KEYS[op]
    wrong = sorted(set(change) ^ keys)
    if wrong:
        name = wrong[0]
        problem = "is required" if name in keys else f'is not a field of a "{op}" line'
        raise FeedError(problem, number, name)
    kind = change["type"]
    table = FEED_TYPES.get(kind) if isinstance(kind, str) else None
    if table is None:
        raise FeedError(
            f"unknown record type {_show(kind)}; one of {', '.join(FEED_TYPES)}", number, "type"
        )
    if op == "delete":
        try:
            return FeedLine(number, op, table, _record_id(change["id"]), None)
        except _Invalid as exc:
            raise FeedError(str(exc), number, "id") from exc
    record = change["record"]
    if not isinstance(record, dict):
        raise FeedError("must be a JSON object", number, "record")
    row = _row(number, table, record)
    return FeedLine(number, op, table, row["id"], row)


def _not_json(text: bytes, exc: orjson.JSONDecodeError) -> str:
    # orjson says only "str is not valid UTF-8" of any bad byte, at column 1.
    try:
        text.decode()
    except UnicodeDecodeError as bad:
        return f"not UTF-8 (byte {bad.start + 1} of the line is 0x{text[bad.start]:02x})"
    nul = text.find(b"\0")
    if nul >= 0:
        return f"not valid JSON (byte {nul + 1} of the line is NUL: is the file UTF-16?)"
    if b"\r" in text:  # read a line at a time, a lone \r ends no line
        return f"not valid JSON ({exc}); a line ends with \\n or \\r\\n, not \\r alone"
    return f"not valid JSON ({exc})"


class _Twice(ValueError):
    """An object of the line gives a key twice."""


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        raise _Twice
    return found


class _Pairs(list[tuple[str, Any]]):
    """An object's keys and values in the order given, every one kept."""


def _refuse_twice(number: int, text: bytes, change: Any) -> None:
    """Refuse a key given twice in one object: orjson, like most parsers, keeps the
    last, so ``{"id": 7, ..., "id": 8}`` changed record 8 silently. A line without an
    escape has each string as orjson writes it back, so the same colons unless a key
    (with its colon) was dropped: counting them, in C, spares nearly every line the
    second reading by ``json``, whose hook sees every key, and which made reading a feed
    1.4x as slow (50,000 licenses: 1.24-1.37 CPU-s, against 0.88-0.95). That reading
    names the key, and checks a line with an escape (``\\u003a`` is a colon) or a value
    nested deeper than orjson writes (254 levels; a change has 4)."""
    if b"\\" not in text:
        try:
            if orjson.dumps(change).count(b":") == text.count(b":"):
                return
        except orjson.JSONEncodeError:
            pass
    try:
        json.loads(text, object_pairs_hook=_once)
    except _Twice:
        field = _twice(json.loads(text, object_pairs_hook=_Pairs), "")
        raise FeedError("is given twice in one object", number, field) from None
    except RecursionError:  # orjson reads 1,024 levels, json fewer; a change has 4
        raise FeedError("not a change: JSON nested too deeply", number) from None


def _twice(value: Any, path: str) -> str | None:
    """The path of the first key given twice in ``value``, in the order written."""
    if isinstance(value, _Pairs):
        keys: set[str] = set()
        for key, item in value:
            where = f"{path}.{key}" if path else key
            if key in keys:
                return where
            keys.add(key)
            if (found := _twice(item, where)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _twice(item, f"{path}[{index}]")) is not None:
                return found
    return None


def _row(number: int, table: sa.Table, record: dict[str, Any]) -> Row:
    """The record as a complete row of the table's writable columns."""
    fields = _fields(table)
    for name in record:
        if name not in fields and name not in _IGNORED:
            raise FeedError(f"unknown field of {to_camel(table.name)}", number, f"record.{name}")
    row: Row = {}
    for wire, (column, parse) in fields.items():
        value = record.get(wire)
        try:
            if value is None:
                row[column.name] = _absent(column)
            else:
                row[column.name] = parse(value)
        except _Invalid as exc:
            raise FeedError(str(exc), number, f"record.{wire}") from exc
    for earlier, later in _DATE_ORDER.get(table.name, ()):
        if row[earlier] is not None and row[later] is not None and row[later] < row[earlier]:
            raise FeedError(
                f"{row[later]} is before {to_camel(earlier)} {row[earlier]}",
                number,
                f"record.{to_camel(later)}",
            )
    return row


def _absent(column: sa.Column[Any]) -> Any:
    if column.server_default is not None:  # niprDeleted, noLicenses: false unless said
        return False
    if not column.nullable:
        raise _Invalid("is required")
    return None


# Built once per table: built for every line, it would take three quarters of the check.
@functools.cache
def _fields(table: sa.Table) -> dict[str, tuple[sa.Column[Any], Callable[[Any], Any]]]:
    """Wire name -> (column, parser) of every column a feed writes."""
    fields: dict[str, tuple[sa.Column[Any], Callable[[Any], Any]]] = {}
    for column in t.data_columns(table):
        name = str(column.name)
        if name in _UNWRITTEN:
            continue
        if name == "loa_categories":
            fields["loaMapping"] = (column, functools.partial(_categories, length=_length(column)))
        elif name == "agent_types":
            fields["agentTypes"] = (column, functools.partial(_joined, length=_length(column)))
        else:
            fields[str(to_camel(name))] = (column, _parser(table, column))
    return fields


def _parser(table: sa.Table, column: sa.Column[Any]) -> Callable[[Any], Any]:
    name = str(column.name)
    allowed = _ENUMS.get((table.name, name))
    if allowed is not None:
        return lambda value: _member(allowed, value)
    if name == "npn":
        return _npn
    if name == "for_state" or (table is t.addresses and name == "state"):
        return _state
    if name == "co_code":
        return _co_code
    if name == "id" or name in _PARENT_IDS:
        return _record_id
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return _boolean
    if isinstance(kind, sa.Integer):  # ids are BIGINTs, the other integers INTEGERs
        return _count
    if isinstance(kind, sa.Date):
        return _date
    if isinstance(kind, sa.JSON):
        return _renewal_periods
    length = kind.length if isinstance(kind, sa.String) else None
    return lambda value: _text(value, length)


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()[:60]


def _text(value: Any, length: int | None) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"must be a string, not {_show(value)}")
    if length is not None and len(value) > length:
        raise _Invalid(f"must be at most {length} characters")
    # PostgreSQL text cannot hold one (a traceback of the whole feed), SQLite's would store it.
    if "\x00" in value:
        raise _Invalid(f"must not contain a NUL character (\\u0000), not {_show(value)}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, float) and abs(value) >= 2**63:
        # orjson reads an integer past 64 bits as a float: too large, not "not an integer".
        raise _Invalid(f"must be a 64-bit integer, not {_show(value)}")
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid(f"must be an integer, not {_show(value)}")
    # Past a BIGINT the driver would fail on it, a traceback of the whole feed.
    if not -MAX_ROW_ID - 1 <= value <= MAX_ROW_ID:
        raise _Invalid(f"must be a 64-bit integer, not {value}")
    return value


def _count(value: Any) -> int:
    # A record's other integers count (ceCreditsNeeded, lengthOfOrder) or amount to
    # (penaltyFineForfeiture) something, never below 0: a negative one would be stored
    # and served. Each is an INTEGER on PostgreSQL, which refuses a larger one as the run
    # writes it (a traceback); SQLite would store it.
    number = _integer(value)
    if not 0 <= number <= _MAX_COUNT:
        raise _Invalid(f"must be a whole number from 0 to {_MAX_COUNT}, not {number}")
    return number


def _record_id(value: Any) -> int:
    # An id of 0 or below would be stored, then refused by /v1/{resource}/{id}, and
    # break paging; one past MAX_FEED_ID, see there.
    number = _integer(value)
    if not 1 <= number <= MAX_FEED_ID:
        raise _Invalid(f"must be a record id from 1 to {MAX_FEED_ID}, not {number}")
    return number


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, not {_show(value)}")
    return value


def _date(value: Any) -> dt.date:
    why = ""
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError as exc:
            # Of that form, but no day: "not 2026-02-30" alone read as a form refused.
            why = f": {exc}"
        else:
            if day < EARLIEST_DATE:
                raise _Invalid(f"must be a date from {EARLIEST_DATE} on, not {_show(value)}")
            return day
    raise _Invalid(f"must be a date as YYYY-MM-DD, not {_show(value)}{why}")


def _npn(value: Any) -> str:
    if not isinstance(value, str) or not is_npn(value):
        raise _Invalid(f"must be an NPN (a string of 1 to 10 digits), not {_show(value)}")
    return value


# A list or an object is no member either: tested for membership, it would be a TypeError.


def _state(value: Any) -> str:
    if not isinstance(value, str) or value not in STATE_CODES:
        raise _Invalid(f"must be a state code (such as TX), not {_show(value)}")
    return value


def _member(allowed: tuple[str, ...], value: Any) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _Invalid(f"must be one of {', '.join(allowed)}, not {_show(value)}")
    return value


def _co_code(value: Any) -> str:
    if not isinstance(value, str) or not _CO_CODE.fullmatch(value):
        raise _Invalid(f"must be an NAIC company code of 5 digits, not {_show(value)}")
    return value


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and "," not in v and "\x00" not in v for v in value
    ):
        raise _Invalid(f"must be a list of strings without commas or NULs, not {_show(value)}")
    return value


def _length(column: sa.Column[Any]) -> int:
    kind = column.type
    assert isinstance(kind, sa.String) and kind.length is not None
    return kind.length


def _joined(value: Any, length: int) -> str:
    # PostgreSQL refused a longer one as the run wrote it (a traceback); SQLite stored it.
    joined = ",".join(_strings(value))
    if len(joined) > length:
        raise _Invalid(f"must be at most {length} characters joined with commas, not {len(joined)}")
    return joined


def _categories(value: Any, length: int) -> str:
    if not isinstance(value, dict) or set(value) - {"categories"}:
        raise _Invalid(f'must be {{"categories": [...]}}, not {_show(value)}')
    return _joined(value.get("categories", []), length)


_WINDOWS = ("renewal", "lateRenewal", "reinstatement")


def _renewal_periods(value: Any) -> dict[str, Any]:
    # Stored and served as given: checked by the client's model, which keeps what it does
    # not know, unknown keys would be stored, and dates as pydantic reads them (0, or
    # "2025-06-10T00:00:00"), served where the contract has YYYY-MM-DD.
    if not isinstance(value, dict):
        raise _Invalid(f"must be a JSON object, not {_show(value)}")
    for key, part in value.items():
        if key in _WINDOWS:
            if part is not None:
                _window(key, part)
            continue
        try:
            if key != "renewalType":
                raise _Invalid(
                    f"is not a field of renewalPeriods ({', '.join(_WINDOWS)} or renewalType)"
                )
            if part is not None:
                _member(_values(m.RenewalType), part)
        except _Invalid as exc:
            raise _Invalid(f"{key}: {exc}") from None
    return value


def _window(name: str, value: Any) -> None:
    if not isinstance(value, dict) or set(value) - {"startDate", "endDate"}:
        raise _Invalid(f'{name}: must be {{"startDate": ..., "endDate": ...}}, not {_show(value)}')
    days: dict[str, dt.date] = {}
    for key in ("startDate", "endDate"):
        if value.get(key) is not None:
            try:
                days[key] = _date(value[key])
            except _Invalid as exc:
                raise _Invalid(f"{name}.{key}: {exc}") from None
    if len(days) == 2 and days["endDate"] < days["startDate"]:
        raise _Invalid(f"{name}.endDate: {days['endDate']} is before startDate {days['startDate']}")


# --- against the store ----------------------------------------------------------------------


def plan_feed(conn: sa.Connection, lines: list[FeedLine], run_date: dt.date) -> churn.DayChanges:
    """The changes the lines make, once each is checked against the store: upserted
    records belong to a known NPN (stored, or upserted by the feed) and to the same NPN
    as their stored version and parent; deleted records exist; no one is born after
    ``run_date``."""
    _check(conn, lines, run_date)
    changes = churn.DayChanges(run_date)
    deleted: dict[str, list[int]] = {}
    for line in lines:
        if line.row is not None:
            changes.upsert(line.table.name, line.row)
        else:
            changes.update(line.table.name, line.id, nipr_deleted=True)
            deleted.setdefault(line.table.name, []).append(line.id)
    for child, parent, column in churn.NESTED:
        for child_id in churn.child_ids(conn, child, column, deleted.get(parent.name, [])):
            changes.update(child.name, child_id, nipr_deleted=True)
    return changes


def _check(conn: sa.Connection, lines: list[FeedLine], run_date: dt.date) -> None:
    upserted = [line for line in lines if line.row is not None]
    entities = churn.entity_ids(conn, (line.row["npn"] for line in upserted if line.row))
    known = set(entities) | {
        line.row["npn"] for line in upserted if line.table is t.entities and line.row
    }
    stored = {
        table.name: churn.lookup(conn, table, _ids(lines, table), "npn")
        for table in t.RECORD_TABLES
    }
    # A nested record's parent: stored, or upserted by the feed (it may come later).
    parents = {
        parent.name: {
            **churn.lookup(conn, parent, _parent_ids(upserted, child, column), "npn"),
            **{line.id: line.row["npn"] for line in upserted if line.table is parent and line.row},
        }
        for child, parent, column in churn.NESTED
    }
    new_entities: dict[str, FeedLine] = {}
    for line in lines:
        was = stored[line.table.name].get(line.id)
        kind = to_camel(line.table.name)
        if line.row is None:
            if was is None:
                raise FeedError(f"no {kind} record with id {line.id}", line.number, "id")
            continue
        npn = line.row["npn"]
        born = line.row.get("date_of_birth")
        if born is not None and born > run_date:
            raise FeedError(
                f"{born} is after the run's date, {run_date}", line.number, "record.dateOfBirth"
            )
        if npn not in known:
            raise FeedError(f"no producer with NPN {npn}", line.number, "record.npn")
        if was is not None and was != npn:
            raise FeedError(
                f"{kind} {line.id} belongs to NPN {was}, not {npn}", line.number, "record.id"
            )
        if line.table is t.entities:
            if entities.get(npn, line.id) != line.id:
                raise FeedError(
                    f"NPN {npn} is entity {entities[npn]}, not {line.id}", line.number, "record.id"
                )
            # A second new entity of one NPN would break the NPN's unique key: a traceback.
            first = new_entities.setdefault(npn, line)
            if first.id != line.id:
                raise FeedError(
                    f"NPN {npn} is entity {first.id} on line {first.number}, not {line.id}",
                    line.number,
                    "record.npn",
                )
        for child, parent, column in churn.NESTED:
            if line.table is child:
                parent_id = line.row[column]
                owner = parents[parent.name].get(parent_id)
                if owner != npn:
                    problem = "no such record" if owner is None else f"it belongs to NPN {owner}"
                    raise FeedError(
                        f"{to_camel(parent.name)} {parent_id}: {problem}",
                        line.number,
                        f"record.{to_camel(column)}",
                    )


def _ids(lines: Iterable[FeedLine], table: sa.Table) -> list[int]:
    return [line.id for line in lines if line.table is table]


def _parent_ids(lines: Iterable[FeedLine], child: sa.Table, column: str) -> list[int]:
    return [line.row[column] for line in lines if line.table is child and line.row]
