"""The daily NIPR run as a DBOS scheduled workflow (setting ``nipr_schedule``, a cron).

Every service process may carry the schedule; a date is applied once whoever fires it,
because ``run_day`` claims the date in the run's own transaction. A day whose time came
while no process ran is run when one starts again (DBOS's automatic backfill, from the
time the schedule last fired), so a deploy or a crash at the scheduled time loses no day.

The schedule lives in the DBOS system database, which every process shares: a process
started without the setting removes it only if it set it itself (the same executor id),
and one started with the schedule as it stands leaves it as it is (``unchanged``).
It names no store: whichever process fires it applies the day to its own (``serve``),
which in a deployment sharing that system database is the same one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import sqlalchemy as sa
from croniter import croniter
from dbos import DBOS, ScheduleInput, WorkflowSchedule

from producersync.db_outage import STEP_RETRIES, describe
from producersync.service.nipr.daily import run_day
from producersync.service.settings import ServiceSettings
from producersync.settings_variables import variable
from producersync.url_userinfo import masked

__all__ = [
    "SCHEDULE_NAME",
    "catch_up_before_first_firing",
    "daily_run_schedule",
    "log_schedule",
    "scheduled_daily_run",
    "serve",
    "set_by",
    "unchanged",
]

SCHEDULE_NAME = "nipr-daily-run"
_SET_BY = "set_by"  # the executor id of the process that set the schedule
_SINCE = "since"  # when it was set (ISO 8601, UTC): DBOS catches up only once it fired
_WHO_AND_WHEN = frozenset({_SET_BY, _SINCE})
_SETTING = variable(ServiceSettings, "nipr_schedule")

log = logging.getLogger(__name__)

# The schedule's context held the setter's database URL, password included, in the
# system database, and kept an old password there after a rotation.
_store: sa.Engine | None = None


# The days caught up at start are as many workflows at once, and each would hold a
# store connection while it waits for the run before it (``churn.claim_run``'s lock): a
# month missed would take the pool's 30, and requests wait for one. A process runs one day at a
# time; processes still wait for each other on that lock, one connection each.
_one_run_at_a_time = threading.Lock()


def serve(engine: sa.Engine) -> None:
    """Apply the daily runs this process fires to ``engine`` (its own store)."""
    global _store
    _store = engine


# A store out of reach at the scheduled time is waited for: a step that failed for good
# is never run again, and the day would go unrun and unannounced.
@DBOS.step(**STEP_RETRIES)
def _apply_day(run_date: str, churn_rate: float) -> None:
    if _store is None:
        raise RuntimeError("the daily run fired in a process that serves no store")
    with _one_run_at_a_time:
        run = run_day(_store, dt.date.fromisoformat(run_date), churn_rate=churn_rate)
    if run.already_applied:
        # By hand (`nipr run`), or by an earlier firing: else the schedule says nothing of
        # its day, which an operator looking for it cannot tell from a day not run.
        log.info(
            "NIPR run %s: applied already (%s, at %s UTC), nothing done",
            run_date,
            run.source,
            f"{run.completed_at:%Y-%m-%d %H:%M:%S}",
        )
    else:
        log.info(
            "NIPR run %s: %d records changed, %d events published",
            run_date,
            run.total_changes,
            run.events_published,
        )


@DBOS.workflow()
def scheduled_daily_run(scheduled_at: dt.datetime, context: dict[str, Any]) -> None:
    run_date = scheduled_at.astimezone(dt.UTC).date().isoformat()
    try:
        _apply_day(run_date, context["churn_rate"])
    except Exception as exc:
        # DBOS logs a traceback and the day stays unrun for good: the scheduled time's
        # workflow id is taken, so neither a firing nor a catch-up runs it again.
        log.error(
            "NIPR run %s failed: %s; the day is not applied and the schedule does not run "
            "it again: `producersync nipr run --date %s` applies it once the cause is fixed",
            run_date,
            masked(describe(exc)),
            run_date,
        )
        raise


def daily_run_schedule(
    cron: str, churn_rate: float, executor_id: str, since: dt.datetime
) -> ScheduleInput:
    """The schedule entry for ``DBOS.apply_schedules``, set by the process ``executor_id``
    at ``since``."""
    return {
        "schedule_name": SCHEDULE_NAME,
        "workflow_fn": scheduled_daily_run,
        "schedule": cron,
        "context": {
            "churn_rate": churn_rate,
            _SET_BY: executor_id,
            _SINCE: since.astimezone(dt.UTC).isoformat(),
        },
        "automatic_backfill": True,
    }


def catch_up_before_first_firing(schedule: WorkflowSchedule | None) -> None:
    """Run the times that came since the schedule was set, while it has never fired.

    DBOS catches up from the schedule's last firing, and from none before its first: a
    schedule set, then every process down at its first time, left that day unrun. The
    times run once whoever catches them up (their workflow ids are DBOS's own)."""
    if schedule is None or schedule["last_fired_at"] or schedule["status"] != "ACTIVE":
        return
    context = schedule["context"]
    since = context.get(_SINCE) if isinstance(context, dict) else None
    if isinstance(since, str):
        DBOS.backfill_schedule(
            SCHEDULE_NAME, dt.datetime.fromisoformat(since), dt.datetime.now(dt.UTC)
        )


def unchanged(schedule: WorkflowSchedule | None, wanted: ScheduleInput) -> bool:
    """Whether ``schedule``, as stored, already is ``wanted`` but for who set it, when.

    Every process runs the stored schedule, and restarts its timer when the stored one
    changes, counting from then: a sibling started with the same setting wrote its own
    executor id, and a process whose timer it restarted after the scheduled time and
    before its firing (DBOS fires up to 10 s late, at random) skipped the day; every
    process at once when the write came in those seconds, the day unrun until some
    process started again."""
    if schedule is None or not isinstance(context := schedule["context"], dict):
        return False
    stored = {key: value for key, value in context.items() if key not in _WHO_AND_WHEN}
    wanted_context = {
        key: value for key, value in wanted["context"].items() if key not in _WHO_AND_WHEN
    }
    return (
        context.keys() >= _WHO_AND_WHEN  # one set before they were recorded is set again
        and schedule["schedule"] == wanted["schedule"]
        and schedule["automatic_backfill"] == wanted["automatic_backfill"]
        and stored == wanted_context
    )


def set_by(schedule: WorkflowSchedule | None, executor_id: str) -> bool:
    """Whether the process ``executor_id`` set ``schedule`` (one set before the setter was
    recorded counts as anyone's, as every schedule then was)."""
    if schedule is None:
        return False
    context = schedule["context"]
    setter = context.get(_SET_BY) if isinstance(context, dict) else None
    return setter is None or setter == executor_id


def log_schedule(schedule: WorkflowSchedule | None) -> None:
    """Say at start whether the daily run is scheduled, and when it fires next: the
    schedule is shared, so a process's own setting does not tell (nothing did)."""
    if schedule is None:
        log.info("The daily NIPR run is not scheduled (%s): run `producersync nipr run`", _SETTING)
        return
    cron = schedule["schedule"]
    context = schedule["context"]
    setter = context.get(_SET_BY) if isinstance(context, dict) else None
    if schedule["status"] != "ACTIVE":
        log.warning(
            "The daily NIPR run's schedule '%s' is %s: no day runs", cron, schedule["status"]
        )
        return
    upcoming = _firings(cron, dt.datetime.now(dt.UTC)).get_next(dt.datetime)
    log.info(
        "The daily NIPR run is scheduled '%s' (UTC, set by %s): next at %s UTC, last fired %s",
        cron,
        setter or "an unknown process",
        f"{upcoming:%Y-%m-%d %H:%M:%S}",
        schedule["last_fired_at"] or "never",
    )
    # Six fields put seconds first: '0 6 * * * *', five fields and a star, is 6 past
    # every hour: the day would run at 00:06 where 06:00 was meant, and nothing say so.
    day = dt.datetime.combine(upcoming.date(), dt.time(), dt.UTC)
    times = _firings(cron, day - dt.timedelta(seconds=1))
    first, second = times.get_next(dt.datetime), times.get_next(dt.datetime)
    if first.date() == second.date():
        log.warning(
            "The daily NIPR run's schedule '%s' fires more than once a day (%s and %s UTC): "
            "a day runs at its first firing, the later ones find it applied (with six "
            "fields the first is the seconds: '0 0 6 * * *' is 06:00)",
            cron,
            f"{first:%Y-%m-%d %H:%M:%S}",
            f"{second:%H:%M:%S}",
        )


def _firings(cron: str, after: dt.datetime) -> croniter:
    """The schedule's times after ``after``, read as DBOS reads it."""
    return croniter(cron, after, second_at_beginning=True)
