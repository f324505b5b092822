"""The log settings of every long-running process and pull (``PRODUCERSYNC_LOG_LEVEL``,
``PRODUCERSYNC_LOG_FORMAT``), as pydantic reads them. Apart from ``log_format``, whose
names the commands' options show: a command's ``--help`` imports that, and not pydantic."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from producersync.log_format import LogFormat, LogLevel

__all__ = ["LogFormatSetting", "LogLevelSetting"]

# The setting of every long-running process (PRODUCERSYNC_LOG_FORMAT, `--log-format`).
LogFormatSetting = Annotated[
    LogFormat,
    Field(
        description="Format of the log lines on stderr of a serving process (and of `sync "
        "now` and `sync backfill`): text (for people) or json (one object a line, for log "
        "shippers)."
    ),
]
_LEVEL_MEANING = (
    "Level of a serving process's (and `sync now`'s and `sync backfill`'s) own and uvicorn's "
    "log lines; other libraries log at warning."
)
# The setting of every long-running process (PRODUCERSYNC_LOG_LEVEL, `--log-level`).
LogLevelSetting = Annotated[LogLevel, Field(description=_LEVEL_MEANING)]
