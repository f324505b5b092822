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

__all__ = ["OTHER_VARIABLES", "PREFIX", "known_variables", "unread_variables"]

PREFIX = "PRODUCERSYNC_"

# The variables read other than by the settings: the SDK's credentials (a Client made
# without them), and the test suite's and the benchmarks' own, which an environment set
# for them passes on to every command they start. tests/test_cli_variables.py finds any
# other.
OTHER_VARIABLES = frozenset(
    {
        "PRODUCERSYNC_CLIENT_ID",
        "PRODUCERSYNC_CLIENT_SECRET",
        "PRODUCERSYNC_TEST_POSTGRES_URL",
        "PRODUCERSYNC_TEST_REDIS_URL",
        "PRODUCERSYNC_BENCH_POSTGRES_URL",
        "PRODUCERSYNC_FUZZ_REQUESTS",
        "PRODUCERSYNC_FUZZ_SEED",
    }
)


def known_variables() -> frozenset[str]:
    """Every variable some part of producersync reads."""
    return SETTINGS_VARIABLES | OTHER_VARIABLES


def unread_variables(environ: Mapping[str, str]) -> dict[str, str | None]:
    """Each ``PRODUCERSYNC_*`` variable of ``environ`` that no part of producersync reads,
    in any case (pydantic reads them so), with the known one closest to it, if any is."""
    known = known_variables()
    # Matched past the prefix, which every name shares: with it, any name would be close.
    rests = [name.removeprefix(PREFIX) for name in sorted(known)]
    unread: dict[str, str | None] = {}
    for name in sorted(environ):
        given = name.upper()
        if given.startswith(PREFIX) and given not in known:
            close = difflib.get_close_matches(given.removeprefix(PREFIX), rests, n=1)
            unread[name] = PREFIX + close[0] if close else None
    return unread
