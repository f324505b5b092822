"""`producersync check` and `producersync report`: compliance questions over the mirror.

``check`` exits 0 for yes, 1 for no, 2 for bad input, 3 when it cannot answer (the
mirror out of reach) and 4 when the mirror cannot tell (an NPN it does not monitor, or
not since its deactivation; one whose records it is fetching, or fetching again after
its re-activation; a status changed after ``--on``), so scripts can branch on it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.cells import cell_len
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from producersync.cli.common import (
    AfterOption,
    BadValue,
    JsonOption,
    LimitOption,
    SinceOption,
    change_json,
    console,
    database_url,
    fail,
    iso_date,
    json_text,
    read_mirror,
    settings_from,
    time_text,
)
from producersync.cli.errors import JsonErrorsCommand, unanswered
from producersync.counted import counted

if TYPE_CHECKING:
    import sqlalchemy as sa

    from producersync.sync import compliance
    from producersync.sync.mirror.queries import RegulatoryActionRow

__all__ = ["as_of_line", "check", "report"]

report = typer.Typer(help="Reports over the mirror.", no_args_is_help=True)

MirrorOption = Annotated[
    str | None,
    typer.Option(
        "--mirror",
        envvar="PRODUCERSYNC_MIRROR_URL",
        parser=database_url,
        help="Mirror URL (sqlite:///file.db or postgresql://...); default: "
        "$PRODUCERSYNC_MIRROR_URL, else the configuration file's mirror_url, else "
        "sqlite:///producersync-mirror.db.",
        show_default=False,
    ),
]
# Not \d, which takes ٣٠ (and int() reads it as 30); the unit in either case (30D too).
_DAYS = re.compile(r"(-?)([0-9]+)[dD]?")
_MAX_DAYS = 36_500  # a hundred years: further is no expiry, and past 9999 no date
_LISTED = 3  # list items a table cell shows
_WHOLE = 12  # characters of a value a table never cuts (a date, an NPN, an id)
_NARROWEST = 6  # characters of a long value's column, however narrow the table
_NAMES_SHOWN = 8  # LOA names an unknown LOA's error lists
_BLOCK = 500  # rows of a report table drawn at a time
# Columns two spaces apart, a rule under the headings, no other lines: in 80 columns, a
# box and its padding around eight columns take a third of the width.
_TABLE: dict[str, Any] = {
    "box": box.SIMPLE_HEAD,
    "padding": (0, 1, 0, 0),
    "show_edge": False,
    "pad_edge": False,
}
_WORDS = re.compile(r"(?<=[a-z])(?=[A-Z])")  # where a camelCase key's words meet


def _echo_json(value: object) -> None:
    typer.echo(json_text(value))


@contextmanager
def _mirror(ctx: typer.Context, url: str | None) -> Iterator[sa.Connection]:
    # Without --mirror (nor its variable), the mirror the settings name, as every sync
    # command reads it: a default of our own here skipped the configuration file's, and
    # a check answered from ./producersync-mirror.db, not the mirror the sync keeps.
    # The other settings are checked as every sync command checks them.
    from typer._click.core import ParameterSource

    from producersync.sync.settings import SyncSettings

    settings = settings_from(SyncSettings, None, {"mirror_url": url})
    # A mirror refused is named by what gave it: --mirror only when typed, else its
    # variable, as the sync commands name it (--json's "field" was "--mirror" for a URL
    # the environment gave, which no option on the command line had).
    typed = ctx.get_parameter_source("mirror") is ParameterSource.COMMANDLINE
    engine = read_mirror(settings.mirror_url, option="--mirror" if typed else None)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _state(value: str) -> str:
    """A ``--state``: a code in any case (``oh``), as the API takes one. A state's name
    is refused with its code, rather than read as it: ``--state Ohio`` was only "not a
    state code", and said nothing of the code to give."""
    from producersync.model import STATE_NAMES
    from producersync.sync import compliance

    try:
        return compliance.state_code(value)
    except ValueError as exc:
        name = " ".join(value.split()).casefold()
        codes = [code for code, known in STATE_NAMES.items() if known.casefold() == name]
        said = str(exc)
        if codes:
            said = f"{value!r} is not a state code: {STATE_NAMES[codes[0]]}'s is {codes[0]}"
        raise BadValue(value, said) from None


def _days(value: str) -> int:
    match = _DAYS.fullmatch(value.strip())
    if match is None:
        raise BadValue(value, f"{value!r}: give days, as 30 or 30d")
    sign, digits = match.groups()
    if sign:  # not "give days, as 30 or 30d", which -1d seems to be
        raise BadValue(value, f"{value!r} counts back: give days ahead, 0 or more")
    days = int(digits)
    if days > _MAX_DAYS:
        raise BadValue(value, f"{value!r}: at most {_MAX_DAYS} days")
    return days


def _not_blank(value: str) -> str:
    if not value.strip():
        raise BadValue(value, f"{value!r} is blank")
    return value.strip()


def _carrier(value: str) -> str:
    """A ``--carrier``: a coCode, as the API takes one. Anything else matches no
    appointment, and a typo's no (``6048`` for 60483) would look like a real one."""
    from producersync.sync import compliance

    _not_blank(value)
    try:
        return compliance.co_code(value)
    except ValueError as exc:
        raise BadValue(value, str(exc)) from None


def _npn(value: str) -> str:
    from producersync.model import npn_number

    try:
        return npn_number(value.strip())  # pasted from a sheet's cell, as the options are
    except ValueError as exc:
        raise BadValue(value, str(exc)) from None


def _known_loa(conn: sa.Connection, loa: str, npn: str, state: str) -> None:
    """Stop, naming ``loa``, when no LOA in the mirror carries it: a typo's no would
    look like a real one. Here rather than in ``compliance.check``, whose no is true
    of the producer whatever the name, and which a batch calls for many NPNs. The
    error names the LOAs the NPN's licenses in ``state`` carry (not niprDeleted), the
    ones to ask of, before the mirror's first few: it named only those, of other
    producers' licenses as much as of this one's."""
    from producersync.sync import compliance
    from producersync.sync.mirror.queries import licenses_in_state

    unknown = compliance.unknown_loa(conn, loa)
    if unknown is None:
        return
    near = " or ".join(map(repr, unknown.closest))
    shown = ", ".join(unknown.names[:_NAMES_SHOWN])
    more = ", ..." if len(unknown.names) > _NAMES_SHOWN else ""
    hint = f"did you mean {near}? " if near else ""
    held = {
        row.loa or row.loa_code: None
        for lic in licenses_in_state(conn, npn, state)
        if not lic.nipr_deleted
        for row in lic.loas
        if not row.nipr_deleted and (row.loa or row.loa_code)
    }
    own = f"NPN {npn}'s LOAs in {state}: {', '.join(map(str, held))}; " if held else ""
    raise fail(
        f"--loa: no LOA named {loa!r} in the mirror ({hint}{own}LOA names: {shown}{more})",
        code=2,
        field="--loa",
        value=loa,
    )


def check(
    ctx: typer.Context,
    npn: Annotated[
        str,
        typer.Argument(
            parser=_npn,
            metavar="NPN",
            help="The producer's NPN: a number, leading zeros ignored (015645555).",
        ),
    ],
    state: Annotated[
        str, typer.Option(parser=_state, metavar="CODE", help="Two-letter state code.")
    ],
    loa: Annotated[
        str,
        typer.Option(
            parser=_not_blank,
            help='Line of authority: name or code ("Life", "10"), else a category ("variable").',
        ),
    ],
    carrier: Annotated[
        str | None,
        typer.Option(
            parser=_carrier,
            metavar="COCODE",
            help="Carrier coCode (5 digits): also require an appointment with it.",
        ),
    ] = None,
    on: Annotated[
        dt.date | None,
        typer.Option(
            parser=iso_date,
            metavar="YYYY-MM-DD",
            help="The date (default today, by this machine's clock and time zone).",
            show_default=False,
        ),
    ] = None,
    mirror: MirrorOption = None,
    as_json: JsonOption = False,
) -> None:
    """May NPN sell LOA in STATE (on a date, for a carrier)? Yes (exit 0) or no (exit 1).

    Each condition is printed, passed, failed or unknown: the reasons for the answer;
    then the NIPR run the mirror holds the records as of (its last synced runDate, or
    before any, the day before its first complete fetch of NPNs) and the run days it is
    behind, as sync status tells them (asOf, lagDays).
    An LOA's ceCreditsNeeded, when not zero, is shown in its CE reason for information:
    no condition (the API does not say it makes an LOA not in compliance).

    Below the reasons, a line each marked !, for information and no condition: a
    non-resident license's resident license not in good standing on the date (or none
    held), and the NPN's regulatory actions in the state, the latest first (the records
    say neither which is in force nor what it bars).

    Bad input exits 2; a mirror out of reach, or not a database, 3 (no answer); what the
    mirror cannot tell (an NPN it does not monitor, or not since its deactivation, its
    records frozen then; one whose records it has not fetched yet, or not again since it
    was subscribed again; a status that changed after the date) 4, "cannot tell": not a
    no."""
    from producersync.sync import compliance

    day = on or dt.date.today()
    with unanswered(), _mirror(ctx, mirror) as conn:
        verdict = compliance.check(conn, npn, state, loa, carrier=carrier, on=day)
        if not verdict.allowed:  # a yes matched the LOA: the names need no reading
            _known_loa(conn, loa, npn, state)
    if as_json:
        values = {"npn": npn, "state": state, "loa": loa, "carrier": carrier, "on": day}
        answer = {
            "allowed": verdict.allowed,
            "answered": verdict.answered,
            "reasons": verdict.reasons,
            "failed": verdict.failed,
            "unknown": verdict.unknown,
            "notes": verdict.notes,
            "regulatoryActions": list(map(_regulatory_json, verdict.regulatory_actions)),
        }
        _echo_json({**values, **answer, **_as_of_json(verdict.as_of, verdict.lag_days)})
    else:
        console.print(_said(verdict))
        for reason in verdict.reasons:
            console.print(f"  {_mark(verdict, reason)} {escape(reason)}", highlight=False)
        for note in verdict.notes:
            console.print(f"  [yellow]![/] {escape(note)}", highlight=False)
        _print_as_of(verdict.as_of, verdict.lag_days)
    raise typer.Exit(0 if verdict.allowed else 1 if verdict.answered else 4)


def _regulatory_json(action: RegulatoryActionRow) -> dict[str, object]:
    """A regulatory action under ``--json``: its fields as the records give them (the
    API's names), its values, and the sentence that tells it without it (``notes``')."""
    from producersync.sync.compliance import regulatory_note

    return {
        "id": action.id,
        "actionId": action.action_id,
        "state": action.state,
        "actionDate": action.action_date,
        "effectiveDate": action.effective_date,
        "lengthOfOrder": action.length_of_order,
        "penaltyFineForfeiture": action.penalty_fine_forfeiture,
        "values": [{"type": type_, "value": value} for type_, value in action.values],
        "unreadable": dict(action.unreadable),
        "note": regulatory_note(action),
    }


def _as_of_json(as_of: dt.date | None, lag_days: int | None) -> dict[str, object]:
    """The mirror's freshness under ``--json``: ``sync status``'s ``asOf`` and
    ``lagDays``."""
    return {"asOf": as_of, "lagDays": lag_days}


def as_of_line(as_of: dt.date | None, lag_days: int | None) -> str:
    """What dates an answer: a yes of a mirror whose sync stopped days ago read as one
    of today's records."""
    if as_of is None:  # neither a daily sync nor a fetch of NPNs has finished
        return "mirror as of no NIPR run: it has completed no sync yet (see sync status)"
    # Not counted(): a line scripts grep, its number without a thousands separator.
    days = f"{lag_days} day{'' if lag_days == 1 else 's'} behind"
    return f"mirror as of NIPR run {as_of} ({days if lag_days else 'current'})"


def _print_as_of(as_of: dt.date | None, lag_days: int | None) -> None:
    # Whole on one line, however narrow the console: a script greps it from the output.
    console.print(as_of_line(as_of, lag_days), markup=False, highlight=False, soft_wrap=True)


def _said(verdict: compliance.Verdict) -> str:
    if verdict.allowed:
        return "[green bold]yes[/]"
    return "[red bold]no[/]" if verdict.answered else "[yellow bold]cannot tell[/]"


def _mark(verdict: compliance.Verdict, reason: str) -> str:
    if reason in verdict.failed:
        return "[red]✗[/]"
    return "[yellow]?[/]" if reason in verdict.unknown else "[green]✓[/]"


@report.command(cls=JsonErrorsCommand)
def expiring(
    ctx: typer.Context,
    within: Annotated[
        int,
        typer.Option(
            parser=_days, metavar="DAYS", help=f"Days ahead: 30 or 30d, at most {_MAX_DAYS}."
        ),
    ],
    mirror: MirrorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Active licenses of the active population expiring within the next days, soonest
    first, each with its state and residency (AL NR: non-resident).

    Before them, those past their expiration date but still active in the mirror
    (overdue, negative days left: NIPR has not lapsed them yet); first of all, those
    with an expirationDate the mirror cannot read. A license the mirror holds from
    before its NPN's re-activation, while the NPN's records are being fetched again,
    has its NPN marked ? and check's reason below the table; a deactivated NPN's are
    not listed. Below them, how many NPNs subscribed are still being fetched, the first
    few named: none of their licenses is listed yet, or only some. Last, the NIPR run
    the mirror is as of, as check tells it."""
    from producersync.sync.compliance import iter_expiring, not_covered, pending
    from producersync.sync.mirror import freshness

    days = within
    today = dt.date.today()
    by = today + dt.timedelta(days=days)
    # Overdue: expired, still active (listed first when there are any).
    # Not counted(): --within as typed (3000), not with a thousands separator.
    none = f"no license expires within {days} day{'' if days == 1 else 's'} (by {by}) or is overdue"
    unreadable: list[tuple[int, dict[str, str]]] = []  # few: what malformed lists
    # The reasons of the licenses marked ?, each once (an NPN's), with those licenses.
    unknown: dict[str, list[int]] = {}
    with _mirror(ctx, mirror) as conn:
        fresh = freshness(conn)
        # Before the licenses, as ``compliance.expiring`` reads it.
        owed = pending(conn)
        rows = (
            {
                "npn": lic.npn,
                "state": lic.state,
                "licenseId": lic.id,
                "licenseNum": lic.license_num,
                "licenseClass": lic.license_class,
                "residencyStatus": lic.residency_status,
                "expirationDate": lic.expiration_date,
                "daysLeft": (lic.expiration_date - today).days if lic.expiration_date else None,
                "overdue": lic.expiration_date is not None and lic.expiration_date < today,
                "unreadable": dict(lic.unreadable),
                "unknown": list(lic.unknown),
            }
            for lic in iter_expiring(conn, by)
        )
        header: dict[str, object] = {"today": today, "withinDays": days}
        if as_json:
            said = {"count": owed.count, "npns": list(owed.npns), "reason": not_covered(owed)}
            dated = {**header, **_as_of_json(fresh.as_of, fresh.lag_days), "pending": said}
            _echo_json_listing(dated, "licenses", rows)
        else:
            # Below the table, not a column of it: its words (expirationDate) would not
            # leave the others whole in 80 columns.
            noted = _noting_unreadable(rows, unreadable)
            shown = (_marked(row, unknown) for row in noted)
            _table(header, "licenses", shown, none)
    for license_id, fields in unreadable:
        read = ", ".join(f"{key} {value}" for key, value in fields.items())
        _print_note(f"license {license_id}: the mirror cannot read its {read}")
    for reason, ids in unknown.items():
        listed = "license" if len(ids) == 1 else "licenses"  # the ids follow, not a count
        _print_note(f"? {listed} {', '.join(map(str, ids))}: {reason}")
    if not as_json:
        uncovered = not_covered(owed)
        if uncovered is not None:
            _print_note(uncovered)
        _print_as_of(fresh.as_of, fresh.lag_days)


def _print_note(note: str) -> None:
    # Whole on one line, however narrow the console, as the run's line below it.
    console.print(note, markup=False, highlight=False, soft_wrap=True)


def _marked(row: dict[str, Any], unknown: dict[str, list[int]]) -> dict[str, Any]:
    """``row`` for the table, marked rather than in columns of their own, which 80
    columns have no room for: the state with the license's residency (``AL NR``: a
    resident license that lapses takes the non-resident ones with it), an overdue
    license's days left so (``-12 overdue``), and the NPN of one the mirror cannot tell
    of with ``?`` (``12345678 ?``), its reason put in ``unknown`` (named below the
    table, a line an NPN)."""
    residency = row.pop("residencyStatus")
    if residency:
        row["state"] = f"{_cell(row['state'])} {residency}"
    if row.pop("overdue"):
        row["daysLeft"] = f"{row['daysLeft']} overdue"
    reasons = row.pop("unknown")
    if reasons:
        row["npn"] = f"{_cell(row['npn'])} ?"
        for reason in reasons:
            unknown.setdefault(reason, []).append(row["licenseId"])
    return row


def _noting_unreadable(
    rows: Iterable[dict[str, Any]], noted: list[tuple[int, dict[str, str]]]
) -> Iterator[dict[str, Any]]:
    """``rows`` without their ``unreadable``, each license's that is not empty put in
    ``noted``."""
    for row in rows:
        fields = row.pop("unreadable")
        if fields:
            noted.append((row["licenseId"], fields))
        yield row


@report.command(cls=JsonErrorsCommand)
def changes(
    ctx: typer.Context,
    since: SinceOption,
    limit: LimitOption = None,
    after: AfterOption = None,
    mirror: MirrorOption = None,
    as_json: JsonOption = False,
) -> None:
    """What the mirror recorded since a date: each record inserted, changed or purged,
    in feed order (by id), at the time the mirror recorded it.

    A deactivated NPN has none after its deactivation but its records' purge, if they
    are purged; one subscribed again has what changed while it was not monitored once
    its fetch writes it, at that fetch's time, and one subscribed for the first time its
    records as inserts once its fetch writes them. Last, the NIPR run the mirror is as
    of, as check tells it."""
    from producersync.sync.mirror import freshness, iter_changes

    with _mirror(ctx, mirror) as conn:
        fresh = freshness(conn)
        rows = map(change_json, iter_changes(conn, since, after=after, limit=limit))
        if as_json:
            dated = {"since": since, **_as_of_json(fresh.as_of, fresh.lag_days)}
            _echo_json_listing(dated, "changes", rows)
        else:
            # In UTC, as the rows' times are: "since: 2026-12-06 13:36:00+05:00" above a
            # change at 08:37:25 would read as one before the time asked, which it is not.
            utc: dict[str, object] = {"since": f"{_cell(since.astimezone(dt.UTC))} UTC"}
            shown = map(_changed_fields, rows)
            _table(utc, "changes", shown, f"no change since {time_text(since)}")
            _print_as_of(fresh.as_of, fresh.lag_days)


def _changed_fields(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` for the table, an update's fields named every one: they are what changed
    (cut to three as an insert's are, an address whose zip had changed read "line1,
    niprDateUpdated, transactionId, +2"). An insert's are all the record's fields, of
    which ``_cell`` shows a few."""
    if row["action"] != "insert":
        row["fields"] = ", ".join(row["fields"])
    return row


def _table(header: dict[str, object], key: str, rows: Iterable[dict[str, Any]], none: str) -> None:
    """The rows as a table for people, drawn ``_BLOCK`` rows at a time as they are read
    (``none`` when there are none, as a table without rows has no columns, and prints
    nothing at all). Read whole first, a report of 93,477 licenses held 840 MB and
    printed nothing for 78 s. The blocks keep the columns the first one set, a column
    widened only when a later block's values need it. A report of one block is titled
    with its count; a longer one ends with it."""
    blocks = _blocks(rows)
    first = next(blocks, None)
    if first is None:
        console.print(none, highlight=False)
        return
    title = ", ".join(f"{name}: {value}" for name, value in header.items())
    second = next(blocks, None)
    keys = list(first[0])
    widths: list[int] = []
    count = 0
    for block in itertools.chain((first,), () if second is None else (second,), blocks):
        cells = [[_cell(value) for value in row.values()] for row in block]
        widths = _widths(keys, cells, console.width, widths)
        columns = [
            Column(_header(k), width=w, overflow="fold") for k, w in zip(keys, widths, strict=True)
        ]
        if not count:
            shown = f"{key} ({title})" if second else f"{_counted(len(block), key)} ({title})"
            table = Table(*columns, title=shown, **_TABLE)
        else:
            table = Table(*columns, show_header=False, **_TABLE)
        for row in cells:
            table.add_row(*map(Text, row))  # as they are, not read as markup
        console.print(table)
        count += len(block)
    if second is not None:
        console.print(_counted(count, key), highlight=False)


def _counted(count: int, key: str) -> str:
    """``1 license``, ``2 licenses``: the title read "1 licenses"."""
    return counted(count, key.removesuffix("s"), key)


def _blocks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while block := list(itertools.islice(iterator, _BLOCK)):
        yield block


def _echo_json_listing(header: dict[str, object], key: str, rows: Iterator[dict[str, Any]]) -> None:
    """``{**header, key: [*rows]}`` as one line of JSON, written as the rows are read:
    a listing built whole first held hundreds of MB for a large mirror. Nothing is
    written before the first row is read, so that a query's error is told alone."""
    first = next(rows, None)
    opening = json_text({**header, key: []})
    if first is None:
        sys.stdout.write(opening + "\n")
        return
    sys.stdout.write(opening[: -len("]}")] + json_text(first))
    for row in rows:
        sys.stdout.write("," + json_text(row))
    sys.stdout.write("]}\n")


def _widths(keys: list[str], cells: list[list[str]], width: int, before: list[int]) -> list[int]:
    """The columns' widths, to fit ``width``, for a block of ``cells`` drawn under the
    blocks before it (their widths ``before``, none for the first). A column whose
    values' words are short (a date, an NPN, an id: at most ``_WHOLE``) is as wide as
    its longest word, its heading's included, and cuts none; the others (field lists,
    license classes, resource names) share what is left, folding what does not fit.
    Rich, left to itself, squeezed every column evenly, then widened the short ones
    back, and the table was wider than 80 columns: what was past the edge was cut,
    12345 days left shown as 1234, the runIds gone. A column is never narrower than
    the blocks before drew it, but where the short ones take more of the width."""
    headers = [_header(key) for key in keys]
    floors = before or [0] * len(keys)
    columns = list(zip(*cells, strict=True))
    longest = [max(map(_longest_word, column)) for column in columns]
    whole = [
        max(size, _longest_word(header), floor) if size <= _WHOLE else None
        for size, header, floor in zip(longest, headers, floors, strict=True)
    ]
    frame = 2 * (len(keys) - 1)  # two spaces between two columns (``_TABLE``)
    left = width - frame - sum(size for size in whole if size is not None)
    long_ones = whole.count(None)
    share = max(left // long_ones, _NARROWEST) if long_ones else 0
    full = [
        max(cell_len(header), *map(cell_len, column))
        for column, header in zip(columns, headers, strict=True)
    ]
    widths = [
        size if size is not None else min(share, max(floor, wanted))
        for size, wanted, floor in zip(whole, full, floors, strict=True)
    ]
    # What is left goes to the short ones' whole lines, as Rich gave it: a time on one
    # line, not its date above its hour.
    spare = width - frame - sum(widths)
    for index, size in enumerate(whole):
        if size is not None and spare > 0:
            grown = min(spare, max(full[index] - size, 0))
            widths[index] += grown
            spare -= grown
    return widths


def _longest_word(text: str) -> int:
    return max(map(cell_len, text.split()), default=0)  # 名前 takes four columns


def _header(key: str) -> str:
    """A column's heading: its JSON key in words ("days left"), which wrap where the
    key (expirationDate) would have widened its column."""
    return _WORDS.sub(" ", key).lower()


def _cell(value: object) -> str:
    if isinstance(value, list):  # an insert names every field: show a few
        shown = ", ".join(map(str, value[:_LISTED]))
        return shown + (f", +{len(value) - _LISTED}" if len(value) > _LISTED else "")
    if isinstance(value, dt.datetime):  # the mirror's times are UTC
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return "" if value is None else str(value)
