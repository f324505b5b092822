"""What every command shares: the settings, the store, the console.

What a command needs beyond its options (SQLAlchemy, the store, the mirror, the API
client, uvicorn) is imported where it is used: imported here, every command, and every
--help, took a second to start, most of it for machinery it never touched."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import signal
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Protocol, TypeVar

import orjson
import typer
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from producersync.cli.consoles import console, err_console
from producersync.log_format import LOG_FORMATS, LOG_LEVELS, LogFormat, LogLevel, logs_json

if TYPE_CHECKING:
    import sqlalchemy as sa
    from pydantic import ValidationError
    from pydantic_settings import BaseSettings
    from starlette.types import ASGIApp

    from producersync.bounded_head import Refusal
    from producersync.client import ProducerSyncError
    from producersync.service.settings import ServiceSettings
    from producersync.sync.mirror import Change
    from producersync.sync.settings import SyncSettings

S = TypeVar("S", bound="BaseSettings")

__all__ = [
    "ERRORS_AS_JSON",
    "NOTHING",
    "AfterOption",
    "BadValue",
    "DatabaseOption",
    "Failed",
    "HostOption",
    "JsonOption",
    "LimitOption",
    "LogFormatOption",
    "LogLevelOption",
    "Problem",
    "ServicePortOption",
    "SinceOption",
    "api_problem",
    "change_id",
    "change_json",
    "console",
    "database_url",
    "emit",
    "err_console",
    "fail",
    "fail_with",
    "iso_date",
    "iso_time",
    "json_text",
    "limit",
    "logged_settings_from",
    "naming_the_mirror",
    "print_error",
    "print_fields",
    "print_table",
    "read_mirror",
    "serve",
    "service_settings",
    "settings_from",
    "settings_problems",
    "shown",
    "store",
    "tell",
    "time_text",
    "whole_number",
    "whole_store",
]

# Whether the running command tells its errors as one JSON object (``cli.errors``) rather
# than as lines on stderr: ``fail`` leaves its error to it then.
ERRORS_AS_JSON: ContextVar[bool] = ContextVar("errors_as_json", default=False)


@dataclass(frozen=True)
class Problem:
    """What went wrong, as a command tells it: the message (the line after ``error:``),
    and, when one input is at fault, the option or argument and the value it was given."""

    message: str
    field: str | None = None
    value: str | None = None


class BadValue(typer.BadParameter):
    """A usage error about a value given, which keeps the value for an error told as
    JSON (Typer's error keeps only its message)."""

    def __init__(self, value: str, message: str, param_hint: str | None = None) -> None:
        super().__init__(message, param_hint=param_hint)
        self.value = value


class Failed(typer.Exit):
    """The exit ``fail`` returns: it carries the problems (one, or the settings refused
    together), for a command that tells its errors as JSON."""

    def __init__(self, problems: list[Problem], code: int) -> None:
        super().__init__(code)
        self.problems = problems


def database_url(value: str) -> str:
    """An option's database URL (Typer's ``parser=``), as given once it is one we open."""
    from producersync.database_url import sqlalchemy_url
    from producersync.url_userinfo import masked

    try:
        sqlalchemy_url(value)
    except ValueError as exc:
        raise BadValue(masked(value), str(exc)) from None
    return value


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        parser=database_url,
        help="Store URL (sqlite:///file.db or postgresql://...); "
        "default: $PRODUCERSYNC_DATABASE_URL or sqlite:///producersync.db.",
        show_default=False,
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (machine-readable).")]

HostOption = Annotated[
    str | None, typer.Option(help="Interface (default $PRODUCERSYNC_HOST or 127.0.0.1).")
]
ServicePortOption = Annotated[
    int | None,
    typer.Option(min=1, max=65535, help="TCP port (default $PRODUCERSYNC_PORT or 8000)."),
]
# Settings (PRODUCERSYNC_LOG_LEVEL, PRODUCERSYNC_LOG_FORMAT), refused by the settings as
# the environment's values are, in the same words: each command passes them to its
# settings as `log_level` and `log_format`.
LogLevelOption = Annotated[
    str | None,
    typer.Option(
        metavar="|".join(LOG_LEVELS),
        help="Level of the process's own and uvicorn's log lines; other libraries log at "
        "warning; default $PRODUCERSYNC_LOG_LEVEL or info.",
        show_default=False,
    ),
]
LogFormatOption = Annotated[
    str | None,
    typer.Option(
        metavar="|".join(LOG_FORMATS),
        help="Format of the log lines on stderr: text (for people) or json (one object a "
        "line, for log shippers); default $PRODUCERSYNC_LOG_FORMAT or text.",
        show_default=False,
    ),
]

MAX_LIMIT = 1_000_000_000


def whole_number(value: str, maximum: int, unit: str = "") -> int:
    """An option's whole number from 1 to ``maximum``, in ASCII digits; the refusal
    shows the value (Typer's own range check does not)."""
    digits = value.strip()
    number = int(digits) if digits.isascii() and digits.isdigit() else 0
    if not 1 <= number <= maximum:
        raise BadValue(value, f"{value!r} is not a whole number{unit} from 1 to {maximum}")
    return number


def limit(value: str) -> int:
    """A ``--limit`` (Typer's ``parser=``): bounded, as a number past the database's
    integers was an OverflowError out of its driver."""
    return whole_number(value, MAX_LIMIT)


LimitOption = Annotated[
    int | None,
    typer.Option(
        parser=limit,
        metavar="N",
        help=f"At most this many (1 to {MAX_LIMIT:,}).",
        show_default=False,
    ),
]


_MAX_ID = 2**63 - 1  # the feed's ids are 64-bit: past that, no id and a driver's error


def change_id(value: str) -> int:
    """An ``--after`` (Typer's ``parser=``): a change id, 0 before the first."""
    digits = value.strip()
    if digits.isascii() and digits.isdigit() and int(digits) <= _MAX_ID:
        return int(digits)
    raise BadValue(value, f"{value!r} is not a change id: a whole number from 0 to {_MAX_ID}")


AfterOption = Annotated[
    int | None,
    typer.Option(
        parser=change_id,
        metavar="ID",
        help="Only the changes after this id (the last one read): to page with --limit.",
        show_default=False,
    ),
]


def iso_date(value: str) -> dt.date:
    """An option's date, ``YYYY-MM-DD`` in ASCII digits (Typer's ``parser=``): a bad one
    is a usage error naming the option and the value, and one of that shape that does
    not exist says why (2026-02-30: the day), not that its format is wrong. Spaces
    around it are read as the API reads them around ``updatedSince`` and as ``--within``
    reads them: a date pasted with its line's end was "not a date as yyyy-MM-dd"."""
    from producersync.model import dates
    from producersync.model.spaces import trim

    try:
        return dates.iso_date(trim(value))
    except ValueError as exc:
        raise BadValue(value, f"{value!r} is {exc}") from None


def iso_time(value: str) -> dt.datetime:
    """An option's time, ISO 8601 or a date alone (its midnight), UTC unless it names
    a zone (Typer's ``parser=``), in the grammar the API reads (``DATETIME_SHAPE``): Python
    alone also reads week dates, dates without dashes (2026-W01-1, 20261201), an hour
    alone and a letter before the Z (08:00:00xZ). A lowercase ``t`` or ``z`` is read, as
    RFC 3339 allows and the API does; spaces around it too, as ``iso_date``."""
    from producersync.model import dates
    from producersync.model.spaces import trim

    refused = BadValue(value, f"{value!r} is not an ISO 8601 time or date, as 2025-09-01T08:00:00")
    text = trim(value)
    if not re.fullmatch(dates.DATETIME_SHAPE, text):
        raise refused
    try:
        moment = dt.datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)
    except ValueError:  # 2026-02-30 or 2026-13-01: its day is wrong, not its format
        try:
            dates.iso_date(text[:10])
        except ValueError as exc:
            raise BadValue(value, f"{value!r} is {exc}") from None
        raise refused from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    try:
        moment.astimezone(dt.UTC)  # what the database is given
    except OverflowError:
        raise BadValue(
            value, f"{value!r} is out of range: in UTC it is before year 1 or after 9999"
        ) from None
    return moment


# `report changes` and `sync changes` read the same feed, from the same --since.
SinceOption = Annotated[
    dt.datetime,
    typer.Option(parser=iso_time, help="ISO 8601 time (UTC if no zone) or date."),
]


def settings_problems(
    exc: ValidationError, settings: type[BaseSettings], options: Mapping[str, str] | None = None
) -> list[Problem]:
    """A problem for each setting ``exc`` refused: the option that gave it (``options``: a
    setting's name to its option) or else its environment variable, why, and the value
    given, a URL's credentials masked. A secret's value is neither told nor kept, and the
    line names no value where the reason is one of our validators' (``value_error``),
    which name it themselves."""
    from pydantic import SecretStr

    from producersync.model.validation import reason
    from producersync.settings_variables import setting_name, variable
    from producersync.url_userinfo import masked

    options = options or {}
    problems = []
    for error in exc.errors():
        name = setting_name(settings, str(error["loc"][0]) if error["loc"] else "")
        field = settings.model_fields.get(name)
        secret = field is not None and SecretStr in _types(field.annotation)
        given = None if secret or error.get("input") is None else error["input"]
        ours = error["type"] == "value_error"
        shown = "" if ours or given is None else f" (given: {masked(repr(given))})"
        source = options.get(name) or variable(settings, name)
        value = None if given is None else masked(str(given))
        where = None if name in options else _given_in(settings, name)
        told = f"{source}: {reason(error)}{shown}" + (f"; given as {where}" if where else "")
        problems.append(Problem(told, source, value))
    return problems


def _given_in(settings: type[BaseSettings], name: str) -> str | None:
    """Where ``settings`` got the setting ``name``, when not from its variable."""
    from producersync.masked_settings import MaskedSettings

    return settings.given_in(name) if issubclass(settings, MaskedSettings) else None


def _types(annotation: object) -> set[object]:
    """``annotation`` and every type nested in it (``list[SecretStr] | None``...)."""
    found = {annotation}
    for argument in getattr(annotation, "__args__", ()):
        found |= _types(argument)
    return found


def print_error(message: str) -> None:
    """``error: message`` on stderr, the message as given (not read as markup)."""
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False)


def tell(problems: list[Problem]) -> None:
    """The problems, a line each on stderr: an ``error:`` line, or, in a process that logs
    in JSON, a ``critical`` line of its log (it ends the process: shown at every log
    level), with the option or variable at fault and its value as ``field`` and ``value``,
    as ``--json`` tells them. A bare ``error:`` line was the one line of a JSON log that
    was no JSON: a store out of reach at start, the line a shipper most needed."""
    for problem in problems:
        if logs_json():
            _errors_log.critical(
                problem.message, extra={"field": problem.field, "value": problem.value}
            )
        else:
            print_error(problem.message)


_errors_log = logging.getLogger("producersync.cli")


def fail(
    message: str, code: int = 1, *, field: str | None = None, value: str | None = None
) -> Failed:
    """Print the error (unless the command tells its errors as JSON, which tells this one
    as it exits); raise what it returns to exit with ``code``. ``field`` and ``value``:
    the option or argument at fault and the value it was given, if one is."""
    return fail_with([Problem(message, field, value)], code)


def fail_with(problems: list[Problem], code: int) -> Failed:
    """``fail``, for one problem or several found together."""
    if not ERRORS_AS_JSON.get():
        tell(problems)
    return Failed(problems, code)


def api_problem(exc: ProducerSyncError) -> str:
    """The line telling that a call to the API failed: the request (without its query)
    and what came back. A connection error's message names the request itself, and was
    told with it twice. An SDK message holds no credentials; a URL's are masked."""
    from producersync.client import APIStatusError, AuthenticationError
    from producersync.sync.failure import request_noted
    from producersync.url_userinfo import masked

    if not isinstance(exc, APIStatusError):
        return masked(request_noted(f"the API: {exc}", exc))
    if isinstance(exc, AuthenticationError):
        return masked(
            request_noted(f"the API refused the client credentials ({exc.call}): {exc}", exc)
        )
    return masked(request_noted(f"the API ({exc.call}): {exc}", exc))


def read_mirror(url: str, pool_size: int | None = None, *, option: str | None = None) -> sa.Engine:
    """The mirror at ``url`` (given with ``option``, if by one, else by its setting) for
    a command that only reads it. A SQLite file that is not there is a mistyped path or
    a mirror never synced: opening it would make an empty mirror, and its answers ("not
    in the monitored population") would look as sure as a real one's. So would an empty
    file or database, or another's (the store's), which opening migrated into one."""
    import sqlalchemy as sa

    from producersync.database_url import sqlalchemy_url, sqlite_file
    from producersync.sync.mirror import open_mirror
    from producersync.sync.mirror.migrate import holds_mirror

    path = sqlite_file(url)
    where = _mirror_at(url)
    if path is not None and path.is_dir():
        raise _no_mirror(where, url, option, "it is a directory: give the mirror's file")
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        raise _no_mirror(where, url, option)
    # A plain engine, not the mirror's: its pragmas would turn another's SQLite file to WAL.
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
    try:
        held = holds_mirror(engine)
    except sa.exc.DatabaseError as exc:
        # Any: it asks only whether a mirror is there, of a database that may be none.
        from producersync.db_outage import describe
        from producersync.url_userinfo import masked

        raise fail(f"the mirror at {where}: {masked(describe(exc))}") from None
    finally:
        engine.dispose()
    if not held:
        raise _no_mirror(where, url, option)
    with naming_the_mirror(url):
        return open_mirror(url, pool_size)


@contextlib.contextmanager
def naming_the_mirror(url: str) -> Iterator[None]:
    """Within, the mirror at ``url`` out of reach, or not a database, ends the command
    naming it (``the mirror at postgresql://***@db/mirror: connection failed: ...``):
    ``main`` would say "the database: ...", which does not say which, and a sync command
    has two, the mirror and DBOS's system database (which ``reach_system_database`` names)."""
    import sqlalchemy as sa

    try:
        yield
    except sa.exc.DatabaseError as exc:
        # Imported here: errors.py imports this module; psycopg, under describe, adds
        # 0.3 s to every command.
        from producersync.cli.errors import of_the_database
        from producersync.db_outage import describe
        from producersync.url_userinfo import masked

        if not of_the_database(exc):
            raise
        raise fail(f"the mirror at {_mirror_at(url)}: {masked(describe(exc))}") from None


def _mirror_at(url: str) -> str:
    """The mirror as an error names it: a SQLite file's absolute path, else its URL, the
    credentials masked."""
    from producersync.database_url import sqlite_file
    from producersync.url_userinfo import masked

    path = sqlite_file(url)
    return masked(url) if path is None else str(path.absolute())


def _no_mirror(where: str, url: str, option: str | None, why: str | None = None) -> Failed:
    from producersync.settings_variables import variable
    from producersync.sync.settings import SyncSettings
    from producersync.url_userinfo import masked

    why = why or "run `producersync sync run` or `producersync sync backfill` first"
    return fail(
        f"no mirror at {where}: {why}",
        code=2,
        # The setting's variable, as for any setting refused (also when the
        # configuration file gave it), so that a script reading --json is not told null.
        field=option or variable(SyncSettings, "mirror_url"),
        value=masked(url),
    )


def change_json(change: Change) -> dict[str, object]:
    """A change-feed row as every command prints it in JSON: camelCase, as all the
    project's JSON, whichever command a script reads it from."""
    return {
        "id": change.id,
        "changedAt": change.changed_at,
        "action": change.action,
        "resource": change.resource,
        "recordId": change.record_id,
        "npn": change.npn,
        "fields": list(change.fields),  # a list, as every list the commands print
        "runId": change.run_id,
    }


NOTHING = "—"


def time_text(value: dt.datetime) -> str:
    """A time as every command writes it, for people and in JSON alike: as the API writes
    it (``iso_z``, 2026-12-07T19:57:35.120616Z), which the endpoint, message and attempt
    lists show and their --since and --until take back. The mirror's commands wrote
    Python's ``+00:00`` (sync changes' lines, every time in JSON) beside admin's ``Z``."""
    from producersync.model.events import iso_z  # pydantic: not at every command's start

    return iso_z(value)


def _json_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        return time_text(value)
    return str(value)


def json_text(value: object) -> str:
    """``value`` as one line of JSON, its times written by ``time_text`` (orjson's own
    are ``+00:00``) and what JSON has no type for by ``str``."""
    return orjson.dumps(value, default=_json_value, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def shown(value: object) -> str:
    """A value as a person reads it, in ``key: value`` lines and table cells alike: nothing
    (None, an empty list or mapping) as a dash, a flag as yes or no, a list's items
    joined by commas, not Python's reprs (``None``, ``True``, ``['a', 'b']``), which
    `admin` printed where `sync status` printed a dash. A time as ``time_text`` writes
    it: `admin account list` and `client list` showed Python's ``2026-12-07
    19:57:35.120616+00:00``."""
    if value is None or (isinstance(value, Mapping | list | tuple) and not value):
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return time_text(value)
    if isinstance(value, list | tuple):
        return ", ".join(map(shown, value))
    return str(value)


def print_fields(values: Mapping[str, object], depth: int = 0) -> None:
    """``key: value`` lines for people (``shown``), each value as it is, not read as Rich
    markup: a nested mapping's beneath its key, indented, and a list of mappings (sync
    status's malformed fields) an item a line."""
    indent = "  " * depth
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            console.print(f"{indent}{key}:", highlight=False)
            print_fields(value, depth + 1)
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            console.print(f"{indent}{key}:", highlight=False)
            for item in value:
                line = ", ".join(f"{k} {shown(v)}" for k, v in item.items())
                console.print(f"{indent}  - {escape(line)}", highlight=False, soft_wrap=True)
        else:
            console.print(f"{indent}{key}: [bold]{escape(shown(value))}[/bold]", highlight=False)


def print_table(columns: list[str], rows: Iterable[Mapping[str, object]]) -> None:
    """A table for people, its cells ``shown`` and as they are (not read as markup), and
    folded, never cut short: an id is what the next command takes (`admin client list`
    cut a client_id to 'psc_929deae1460f…', which no command could take). An id's column
    is not folded while the others can give way: folded over three lines at 80 columns,
    an endpoint's or a message's id was copied in part."""
    table = Table(
        *(
            Column(name, overflow="fold", no_wrap=name == "id" or name.endswith(("Id", "_id")))
            for name in columns
        )
    )
    for row in rows:
        table.add_row(*(Text(shown(row[c])) for c in columns))
    console.print(table)


def emit(as_json: bool, values: dict[str, object]) -> None:
    """One result: a JSON object, or ``key: value`` lines for people (``print_fields``).
    A value is printed as it is, not read as Rich markup: an endpoint's description `[/x]`
    was a MarkupError traceback once the endpoint was made, its secret never shown, and
    an account named `[red]acme` was printed `acme`."""
    if as_json:
        typer.echo(json_text(values))
    else:
        print_fields(values)


class Served(Protocol):
    """The settings of a process that serves HTTP: where, and how it logs."""

    host: str
    port: int
    log_level: LogLevel
    log_format: LogFormat
    head_timeout_seconds: float
    shutdown_grace_seconds: int


def serve(
    make_app: Callable[[], ASGIApp],
    settings: Served,
    refusal: Refusal,
    listening: list[socket.socket] | None = None,
) -> None:
    """Run the app ``make_app`` makes under uvicorn until interrupted, at ``settings``'
    address, every log line at its level and in its format (set as ``logged_settings_from``
    read them), the lines of the app's making too (a sync hook that could not be loaded was
    told in bare lines, no time nor level, not JSON under ``--log-format json``); uvicorn's
    access log off (the apps count their requests in ``/metrics``, and a log line per
    request is noise at API rates; the service's own, asked for, names each request's id:
    ``service/access.py``). A request refused before ``app`` sees it (``bounded_head``) is
    answered in ``refusal``'s body, the app's. ``listening``: the sockets ``listen`` bound
    at that address, when the command took it before its set-up; else bound here.

    Stopped by SIGINT (Ctrl-C) or SIGTERM, it shuts down gracefully, then ends by that
    signal (exit status 130 or 143 in a shell). uvicorn raises the signal it caught
    again once it has shut down; for SIGINT, Python's handler made that a
    KeyboardInterrupt, which uvicorn.run swallows: a Ctrl-C exited 0, as if the server
    had ended of its own accord. The default action for SIGINT, as SIGTERM has it."""
    import uvicorn

    from producersync.bounded_head import BoundedHead

    # The address taken before the app starts: uvicorn.run binds after, so a second
    # process on a port in use (and so under the same DBOS executor id) would launch DBOS,
    # take back the running process's workflows and queue a catch-up, only to exit on the
    # bind.
    if listening is None:
        listening = listen(settings.host, settings.port)
    app = make_app()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # configured as the settings were read
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        http=BoundedHead.within(settings.head_timeout_seconds, refusal),
    )

    shown = f"[{settings.host}]" if ":" in settings.host else settings.host

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # uvicorn says so only of the sockets it binds itself
                logging.getLogger("uvicorn.error").info(
                    "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, settings.port
                )

    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        Server(config).run(sockets=listening)
    finally:
        signal.signal(signal.SIGINT, previous)


def listen(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host`` at ``port``, as uvicorn binds them
    (``localhost``: ::1 and 127.0.0.1 both); listened on once the app has started. A
    port in use, or an address not this host's, ends the command naming it."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sockets: list[socket.socket] = []
    for family, kind, protocol, _, address in dict.fromkeys(found):
        sock = socket.socket(family, kind, protocol)
        sockets.append(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # "::" takes IPv6 alone, as asyncio has it
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            for each in sockets:
                each.close()
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sockets


def service_settings(
    database: str | None = None,
    context: typer.Context | None = None,
    *,
    logs: bool = False,
    **overrides: object,
) -> ServiceSettings:
    """The service's settings from the environment, overridden by ``database`` and the
    options in ``overrides`` (``settings_from``; ``logged_settings_from`` if the command
    ``logs``). (``--database`` needs no context: its parser has refused what this would.)"""
    from producersync.service.settings import ServiceSettings

    options = {**overrides, "database_url": database or None}
    if logs:
        return logged_settings_from(ServiceSettings, context, options)
    return settings_from(ServiceSettings, context, options)


def settings_from(
    settings: type[S],
    context: typer.Context | None = None,
    options: Mapping[str, object] | None = None,
) -> S:
    """``settings`` from the environment, overridden by the options of the command
    running in ``context`` (keyed by setting, as the command's parameter giving each is
    named; None: not given). A refused setting ends the command as a usage error (exit
    2) naming the option it came from, or else its environment variable. Every command
    reads its settings here or in ``logged_settings_from``: a ``PRODUCERSYNC_*`` variable
    no process reads is told of first, a warning line on stderr (``_unread``)."""
    read, unread = _read(settings, context, options)
    _print_unread(unread)
    return read


# The settings of a command that logs: both have a log level and format.
L = TypeVar("L", "ServiceSettings", "SyncSettings")


def logged_settings_from(
    settings: type[L], context: typer.Context | None, options: Mapping[str, object]
) -> L:
    """``settings`` as ``settings_from`` reads them, for a command that logs (a serving
    process, a pull): its log lines from now on at their level and in their format, the
    warning of a variable no process reads among them (a record of its own, with the
    variable and the suggestion as fields). Printed before logging was set, it was the one
    line of a JSON log that was no JSON, and a shipper parsing every line choked on it."""
    from producersync.log_format import configure_logging

    read, unread = _read(settings, context, options)
    configure_logging(read.log_level, read.log_format)
    for name, close in unread.items():
        _settings_log.warning(
            "%s is not a producersync setting and is ignored%s",
            name,
            _meant(close),
            extra={"variable": name, "suggestion": close},
        )
    return read


_settings_log = logging.getLogger("producersync.settings")
_UNREAD_TOLD = "producersync.unread_told"  # in the command's context: _unread has run


def _read(
    settings: type[S], context: typer.Context | None, options: Mapping[str, object] | None
) -> tuple[S, dict[str, str | None]]:
    """``settings`` (``settings_from``), and the variables no process reads to tell of."""
    from pydantic import ValidationError

    unread = _unread()
    values = {k: v for k, v in (options or {}).items() if v is not None}
    try:
        return settings(**values), unread  # type: ignore[arg-type]
    except ValidationError as exc:
        _print_unread(unread)  # no log format was read: the line on stderr
        given = {} if context is None else _options(context, values)
        raise fail_with(settings_problems(exc, settings, given), 2) from None


def _unread() -> dict[str, str | None]:
    """Each ``PRODUCERSYNC_*`` variable of the environment that no part of producersync
    reads (``cli.variables``), with the setting closest to it; once a command, which may
    read its settings more than once (none the second time)."""
    from typer._click.globals import get_current_context

    from producersync.cli.variables import unread_variables

    context = get_current_context(silent=True)
    if context is not None:
        if context.meta.get(_UNREAD_TOLD):
            return {}
        context.meta[_UNREAD_TOLD] = True
    return unread_variables(os.environ)


def _print_unread(unread: Mapping[str, str | None]) -> None:
    """A warning line on stderr for each of ``unread``, never its value (it may be a
    secret)."""
    for name, close in unread.items():
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(name)} is not a producersync setting and is "
            f"ignored{_meant(close)}",
            highlight=False,
        )


def _meant(close: str | None) -> str:
    return f" (did you mean {close}?)" if close else ""


def _options(context: typer.Context, settings: Mapping[str, object]) -> dict[str, str]:
    """The option of the command running in ``context`` that gave each of ``settings``."""
    params = {param.name: param for param in context.command.params}
    given = {}
    for name in settings:
        param = params.get("database" if name == "database_url" else name)
        if param is not None and param.param_type_name == "option":
            given[name] = param.opts[0]
    return given


def store(database: str | None) -> sa.Engine:
    from producersync.service.store.open import open_store

    return open_store(service_settings(database).database_url)


def whole_store(engine: sa.Engine) -> sa.Engine:
    """``engine``, unless its store holds part of a universe, which serving or running a
    day on would pass off as whole: then the error saying how to load it again."""
    # Imported here: the loader's universe and documents add 0.1 s to every command.
    from producersync.service.nipr.loader import interrupted_load

    started = interrupted_load(engine)
    if started is not None:
        raise fail(
            f"the store holds part of a universe: the `nipr generate` started "
            f"{started:%Y-%m-%d %H:%M:%S} UTC did not finish; `producersync nipr generate "
            "--replace --producers N` loads one again"
        )
    return engine


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt: whatever stops a command
    by hand (a pull's streams at their next page, its run recorded as interrupted; the
    demo's services) stops it for systemd, `docker stop` or `kill` too."""


@contextlib.contextmanager
def terminated_as_interrupted() -> Iterator[None]:
    """Within: SIGTERM stops the command as Ctrl-C does, and it exits 143, as a shell
    tells a command ended by SIGTERM. Python's default ended the process on the spot:
    a pull's run shown running until its lease ran out, the demo's services left
    running on its ports. The handler before is put back."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except Terminated:
        raise typer.Exit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
