"""The daily NIPR run as a DBOS scheduled workflow (setting ``nipr_schedule``, a cron).

Every service process may carry the schedule; a date is applied once whoever fires it,
because ``run_day`` claims the date in the run's own transaction. A day whose time came
while no process ran is run when one starts again (DBOS's automatic backfill, from the
time the schedule last fired), so a deploy or a crash at the scheduled time loses no day.

The schedule lives in the DBOS system database, which every process shares: a process
started without the setting removes it only if it set it itself (the same executor id).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from dbos import DBOS, ScheduleInput, WorkflowSchedule

from producersync.db_outage import STEP_RETRIES
from producersync.service.nipr.daily import run_day
from producersync.service.store.engine import make_engine

__all__ = ["SCHEDULE_NAME", "daily_run_schedule", "scheduled_daily_run", "set_by"]

SCHEDULE_NAME = "nipr-daily-run"
_SET_BY = "set_by"  # the executor id of the process that set the schedule

log = logging.getLogger(__name__)


# A store out of reach at the scheduled time is waited for: a step that failed for good
# is never run again, and the day would go unrun and unannounced.
@DBOS.step(**STEP_RETRIES)
def _apply_day(database_url: str, run_date: str, churn_rate: float) -> None:
    engine = make_engine(database_url)
    try:
        run = run_day(engine, dt.date.fromisoformat(run_date), churn_rate=churn_rate)
    finally:
        engine.dispose()
    if not run.already_applied:
        log.info(
            "NIPR run %s: %d records changed, %d events published",
            run_date,
            run.total_changes,
            run.events_published,
        )


@DBOS.workflow()
def scheduled_daily_run(scheduled_at: dt.datetime, context: dict[str, Any]) -> None:
    run_date = scheduled_at.astimezone(dt.UTC).date().isoformat()
    _apply_day(context["database_url"], run_date, context["churn_rate"])


def daily_run_schedule(
    cron: str, database_url: str, churn_rate: float, executor_id: str
) -> ScheduleInput:
    """The schedule entry for ``DBOS.apply_schedules``, set by the process ``executor_id``."""
    return {
        "schedule_name": SCHEDULE_NAME,
        "workflow_fn": scheduled_daily_run,
        "schedule": cron,
        "context": {
            "database_url": database_url,
            "churn_rate": churn_rate,
            _SET_BY: executor_id,
        },
        "automatic_backfill": True,
    }


def set_by(schedule: WorkflowSchedule | None, executor_id: str) -> bool:
    """Whether the process ``executor_id`` set ``schedule`` (one set before the setter was
    recorded counts as anyone's, as every schedule then was)."""
    if schedule is None:
        return False
    context = schedule["context"]
    setter = context.get(_SET_BY) if isinstance(context, dict) else None
    return setter is None or setter == executor_id
