"""How a command that fails tells why: a line on stderr for each problem (``main``, for
every command), or, for a command given ``--json`` whose errors are told so
(``JsonErrorsCommand``), one JSON object on stdout, where its result would have been:

    {"error": {"field": "--state", "value": "ZZ", "message": "Invalid value for --state: ..."}}

``message`` is what the line on stderr says; ``field`` names the option or argument at
fault (or the environment variable of a setting refused) and ``value`` what it was given
(masked, or null for a secret, as the line is), each null when no one input is. Several
problems found together (settings refused at once) are told as one, messages joined,
and each with its field and value in ``"problems"``. The exit code is the same either
way. The API's error body is flat (``status``, ``error``,
``message``, ``path``), but its ``status`` and ``error`` are HTTP's; nested under
``error``, an error is told from a result by one key.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import typer
from typer.core import TyperCommand

from producersync.cli.common import (
    ERRORS_AS_JSON,
    BadValue,
    Failed,
    Problem,
    api_problem,
    fail_with,
    settings_problems,
)

if TYPE_CHECKING:
    import sqlalchemy as sa
    from pydantic import ValidationError

    # The context Typer's commands take: its own copy of Click's, which it does not
    # export (``typer.Context`` is a subclass, too narrow for an override).
    from typer._click import Context

    from producersync.client import ProducerSyncError
    from producersync.executors import ExecutorTaken

__all__ = ["Failure", "JsonErrorsCommand", "failure", "of_the_database", "with_value"]

# The settings whose refusals are told as settings', by the module defining each.
_SETTINGS = {
    "ServiceSettings": "producersync.service.settings",
    "SyncSettings": "producersync.sync.settings",
}
_JSON = "producersync.errors_as_json"  # in the command's context: given --json
_ARGS = "producersync.args"  # in the command's context: its arguments, as given


@dataclass(frozen=True)
class Failure:
    """Why a command failed, and its exit code."""

    problems: list[Problem]
    code: int


def failure(exc: Exception) -> Failure | None:
    """What a command that let ``exc`` out failed of, told instead of a traceback: a
    setting the environment or the configuration file got wrong (exit 2), a database out
    of reach, not one or not a store, a SQLite store or mirror whose directory is missing
    or not writable, or the API refusing or out of reach (exit 1). None for any other
    exception: a bug, whose traceback is what finds it."""
    for name, tell in _KINDS:
        kind = _loaded(name)
        if kind is not None and isinstance(exc, kind):
            told = tell(exc)
            if told is not None:
                return told
    return None


UNANSWERED = 3  # the exit of a command whose 1 is an answer (check's no) that could not answer


@contextlib.contextmanager
def unanswered() -> Iterator[None]:
    """Within, a failure that would exit 1 (the mirror or the API out of reach, not a
    database, or one its user may not migrate) exits ``UNANSWERED``, for a command whose 1
    is an answer: a script branching on check's no, or on verify's "the mirror differs",
    took a mirror that was down for that answer."""
    try:
        yield
    except Failed as exc:
        if exc.exit_code != 1:
            raise
        raise Failed(exc.problems, UNANSWERED) from None  # told already, as it failed
    except Exception as exc:
        failed = failure(exc)
        if failed is None:
            raise
        raise fail_with(failed.problems, UNANSWERED if failed.code == 1 else failed.code) from None


def _loaded(name: str) -> type[Exception] | None:
    """The exception class ``name`` (``module:Class``), if its module is imported: one
    not imported raised nothing, and importing SQLAlchemy, the store or the API client to
    tell an error apart cost a command what it saved by not importing them."""
    module, _, kind = name.partition(":")
    found = sys.modules.get(module)
    return None if found is None else getattr(found, kind)


def _as_it_is(exc: Exception) -> Failure:
    return Failure([Problem(str(exc))], 1)


def _database(exc: sa.exc.DatabaseError) -> Failure | None:
    if not of_the_database(exc):
        return None
    # Imported here: psycopg, under it, adds 0.3 s to every command.
    from producersync.db_outage import database_file, describe
    from producersync.url_userinfo import masked

    # The driver's first line: libpq's refusals go on with a hint on a second line
    # ("\tIs the server running on that host..."), and the error would be two lines.
    path = database_file(exc)
    which = "the database" if path is None else f"the database at {path}"
    return Failure([Problem(f"{which}: {masked(describe(exc))}")], 1)


def _api(exc: ProducerSyncError) -> Failure:
    return Failure([Problem(api_problem(exc))], 1)


def _executor_taken(exc: ExecutorTaken) -> Failure:
    # Exit 2, as a setting refused: the executor id given is what is at fault.
    return Failure([Problem(str(exc), "--executor-id", exc.executor_id)], 2)


def _settings(exc: ValidationError) -> Failure | None:
    if exc.title not in _SETTINGS:
        return None
    settings = getattr(importlib.import_module(_SETTINGS[exc.title]), exc.title)
    return Failure(settings_problems(exc, settings), 2)


# Each kind a command's failure is told of (``module:Class``), and how; a kind whose
# module is not imported is not looked for. A store that is none, a migration refused, a
# SQLite file's directory at fault: their messages say it all.
_KINDS: tuple[tuple[str, Callable[[Any], Failure | None]], ...] = (
    ("sqlalchemy.exc:DatabaseError", _database),
    ("producersync.service.store.migrate:NotAStoreError", _as_it_is),
    ("producersync.migrations:MigrationError", _as_it_is),
    ("producersync.database_file:DatabaseFileError", _as_it_is),
    ("producersync.client:ProducerSyncError", _api),
    ("pydantic_core:ValidationError", _settings),
    ("producersync.executors:ExecutorTaken", _executor_taken),
)


def of_the_database(exc: sa.exc.DatabaseError) -> bool:
    """Whether ``exc`` is about the database itself (out of reach, or a file that is no
    database or a damaged one: the driver's bare ``DatabaseError``), not a statement of
    ours, whose traceback is what finds the bug."""
    import sqlalchemy as sa

    return isinstance(exc, sa.exc.OperationalError) or type(exc) is sa.exc.DatabaseError


class JsonErrorsCommand(TyperCommand):
    """A command with a ``--json`` option (``JsonOption``), whose errors, when it is given,
    are one JSON object on stdout: a usage error (which Typer would draw in a box on
    stderr), one the command ``fail``s with, or one ``failure`` tells. While the
    arguments are parsed, ``--json`` among them is the sign."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        ctx.meta[_JSON] = "--json" in args
        ctx.meta[_ARGS] = list(args)  # a copy: the parser consumes the list it is given
        with _errors_as_json(ctx.meta[_JSON]):
            rest: list[str] = super().parse_args(ctx, args)
            return rest

    def invoke(self, ctx: Context) -> Any:
        with _errors_as_json(ctx.meta.get(_JSON, False)):
            return super().invoke(ctx)


@contextlib.contextmanager
def _errors_as_json(on: bool) -> Iterator[None]:
    """Within: with ``on``, an error is told as one JSON object on stdout, then the
    command exits with its code."""
    if not on:
        yield
        return
    token = ERRORS_AS_JSON.set(True)
    try:
        yield
    except Failed as exc:
        _echo(exc.problems)
        raise
    except typer.Exit:
        raise  # an answer (check's no), not an error
    except typer.TyperException as exc:  # Typer's usage errors
        _echo([_usage_problem(exc)])
        raise typer.Exit(exc.exit_code) from None
    except Exception as exc:
        failed = failure(exc)
        if failed is None:
            raise
        _echo(failed.problems)
        raise typer.Exit(failed.code) from None
    finally:
        ERRORS_AS_JSON.reset(token)


def with_value(exc: typer.BadParameter) -> typer.BadParameter:
    """``exc``, its message naming the value it refuses where Typer's check of the
    option's type or range did not: ``--port 0`` was "Input should be greater than or
    equal to 1", ``--producers -5`` "... greater than or equal to 10", and a line of a
    script's log did not say which value. Ours (``BadValue``) name it already."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if isinstance(exc, BadValue) or type(cause).__name__ != "ValidationError" or not errors:
        return exc
    given = errors()[0].get("input")
    told = "(given: "
    if isinstance(given, str) and told not in exc.message:
        from producersync.url_userinfo import masked

        # As a setting's refusal names the value it was given.
        exc.message = f"{exc.message} {told}{masked(given)!r})"
    return exc


def _usage_problem(exc: typer.TyperException) -> Problem:
    """A usage error of Typer's as a problem: the option or argument from its hint or its
    parameter (the option of one that does not exist), the value if ours kept it."""
    if isinstance(exc, typer.BadParameter):
        with_value(exc)
    hint = getattr(exc, "param_hint", None)
    param = getattr(exc, "param", None)
    ctx: Context | None = getattr(exc, "ctx", None)
    envvar = getattr(param, "envvar", None)
    named = getattr(param, "name", None)
    if isinstance(envvar, str) and ctx is not None and _from_the_environment(ctx, named):
        # Its variable, as a setting refused is named: not the option no one typed.
        field: str | None = envvar
    elif isinstance(hint, str):
        field = hint
    elif param is not None:
        field = param.opts[0] if param.param_type_name == "option" else param.name.upper()
    else:
        field = getattr(exc, "option_name", None)
    value = exc.value if isinstance(exc, BadValue) else _given(exc)
    return Problem(exc.format_message(), field, value)


def _from_the_environment(ctx: Context, name: str | None) -> bool:
    from typer._click.core import ParameterSource

    return name is not None and ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT


def _given(exc: typer.TyperException) -> str | None:
    """What the command line gave the parameter ``exc`` refuses (a URL's credentials
    masked): Typer's errors keep the parameter, not the value (an --churn-rate of 2, or
    a --date out of range, was told as null). The command's own parser reads the
    arguments again, as it read them before refusing the value. None where no parameter
    is at fault, none was given (a value from the environment) or several were."""
    ctx: Context | None = getattr(exc, "ctx", None)
    param = getattr(exc, "param", None)
    if ctx is None or param is None or _ARGS not in ctx.meta:
        return None
    args = ctx.meta[_ARGS]
    opts, _, _ = ctx.command.make_parser(ctx).parse_args(args=list(args))
    given = opts.get(param.name)
    from producersync.url_userinfo import masked

    return masked(given) if isinstance(given, str) else None


def _echo(problems: list[Problem]) -> None:
    """One JSON object for ``problems``: the one, or several told as one (a setting and
    another refused together), their messages joined, and each of them in ``problems``
    with its own field and value."""
    if len(problems) == 1:
        error = _fields(problems[0])
    else:
        error = _fields(Problem("; ".join(problem.message for problem in problems)))
        error["problems"] = [_fields(problem) for problem in problems]
    typer.echo(orjson.dumps({"error": error}).decode())


def _fields(problem: Problem) -> dict[str, Any]:
    return {"field": problem.field, "value": problem.value, "message": problem.message}
