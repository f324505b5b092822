"""The ``PRODUCERSYNC_*`` variables of the environment that no part of producersync reads.

pydantic ignores them, so a misspelt one (``MIRROR_ULR`` for ``MIRROR_URL``) would leave
a process on the default it was meant to change, the sync writing to a SQLite file in its
working directory, without a word. One environment often serves the service, the sync
service and the SDK together, so a variable is told of only when no process reads it:
none of every process's settings (``SETTINGS_VARIABLES``) nor of ``OTHER_VARIABLES``."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from producersync.cli._setting_variables import SETTINGS_VARIABLES

__all__ = ["OTHER_VARIABLES", "PREFIX", "TOLD", "known_variables", "told", "unread_variables"]

PREFIX = "PRODUCERSYNC_"
# The variables a process that starts others (`demo`) has told of, comma-separated, in
# their environment: each of its children repeated its warnings in its own log.
TOLD = "PRODUCERSYNC_UNREAD_TOLD"

# The variables read other than by the settings: the SDK's credentials and where its API
# is (a Client made without them: named here, not imported from the SDK, which every
# command would then import), and the test suite's and the benchmarks' own, which an
# environment set for them passes on to every command they start.
# tests/test_cli_variables.py finds any other.
OTHER_VARIABLES = frozenset(
    {
        "PRODUCERSYNC_CLIENT_ID",
        "PRODUCERSYNC_CLIENT_SECRET",
        "PRODUCERSYNC_API_URL",
        "PRODUCERSYNC_TOKEN_URL",
        "PRODUCERSYNC_ENVIRONMENT",
        "PRODUCERSYNC_TEST_POSTGRES_URL",
        "PRODUCERSYNC_TEST_REDIS_URL",
        "PRODUCERSYNC_BENCH_POSTGRES_URL",
        "PRODUCERSYNC_FUZZ_REQUESTS",
        "PRODUCERSYNC_FUZZ_SEED",
        TOLD,
    }
)


def known_variables() -> frozenset[str]:
    """Every variable some part of producersync reads."""
    return SETTINGS_VARIABLES | OTHER_VARIABLES


def unread_variables(environ: Mapping[str, str]) -> dict[str, str | None]:
    """Each ``PRODUCERSYNC_*`` variable of ``environ`` that no part of producersync reads,
    in any case (pydantic reads them so), with the known one closest to it, if any is;
    but those the process that started this one has told of (``told``)."""
    # Matched past the prefix, which every name shares: with it, any name would be close.
    rests = [name.removeprefix(PREFIX) for name in sorted(known_variables())]
    told_before = set(environ.get(TOLD, "").split(","))
    unread: dict[str, str | None] = {}
    for name in _unread_names(environ):
        if name not in told_before:
            close = difflib.get_close_matches(name.upper().removeprefix(PREFIX), rests, n=1)
            unread[name] = PREFIX + close[0] if close else None
    return unread


def told(environ: Mapping[str, str]) -> dict[str, str]:
    """The variable to add to the environment of a process started from ``environ``
    once this one has told of the variables no part of producersync reads: the child
    leaves them to it, and still tells of any other."""
    return {TOLD: ",".join(_unread_names(environ))}


def _unread_names(environ: Mapping[str, str]) -> list[str]:
    known = known_variables()
    return [
        name
        for name in sorted(environ)
        if name.upper().startswith(PREFIX) and name.upper() not in known
    ]
