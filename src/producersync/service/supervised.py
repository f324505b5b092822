"""A service process's long-lived background task kept running: restarted, with a growing
pause, when it dies of an error it does not handle itself, and told to ``/healthz`` and
``/metrics`` meanwhile.

The dispatcher's loop waits out a store outage by itself; any other error ended its task
unseen (asyncio logs an unretrieved exception only when the task is collected), and the
process answered ``/healthz`` 200 while it delivered nothing. Now the first death of a
run of them is logged at ERROR with its traceback, each restart counted, and ``/healthz``
answers 503 naming the task and since when, until a restart has completed a round: what
a liveness probe acts on once the restarts do not help.

A task that died ``_LOOPING_DEATHS`` times within ``_LOOPING_WINDOW_SECONDS`` is
crash-looping: a restart of it completing a round is not enough, its run must also have
lasted ``settle_seconds``. One that died right after each round was reported alive
after each (``/healthz`` 200 from that round to its next death, 503 for the pause
after), and a probe wanting a few failures in a row may never have restarted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ConfigDict
from starlette.responses import JSONResponse, Response

__all__ = ["Failing", "Liveness", "Supervised", "Unhealthy", "unhealthy"]

log = logging.getLogger(__name__)

_FIRST_PAUSE_SECONDS = 1.0
_LONGEST_PAUSE_SECONDS = 60.0
_LOOPING_DEATHS = 3
_LOOPING_WINDOW_SECONDS = 600.0
# How long a crash-looping task's run lasts before a round of it clears it: half a
# minute, a Kubernetes liveness probe's three failures 10 s apart.
_SETTLE_SECONDS = 30.0

# Given a callback to call each time it completes a round, returns once ``stop`` is set.
Run = Callable[[asyncio.Event, Callable[[], None]], Awaitable[None]]


class Failing(BaseModel):
    """A task that died and has not completed a round since: ``error`` is the type of
    the exception it died of (its message, which may carry data, is in the log only;
    ``/healthz`` asks for no token)."""

    model_config = ConfigDict(frozen=True)

    component: str
    since: dt.datetime
    error: str
    restarts: int


class Unhealthy(BaseModel):
    """``/healthz``'s 503."""

    status: Literal["failing"] = "failing"
    failing: list[Failing]


def unhealthy(liveness: Liveness, **more: str) -> Response | None:
    """``/healthz``'s 503, with ``more`` in its body, while a task fails; else none."""
    failing = liveness.failing()
    if not failing:
        return None
    return JSONResponse({**Unhealthy(failing=failing).model_dump(mode="json"), **more}, 503)


class Liveness:
    """The background tasks of one process and those of them failing, with their metrics
    in ``registry``. ``settle_seconds``: how long a crash-looping task must run before a
    round of it tells it alive again."""

    def __init__(
        self, registry: CollectorRegistry, settle_seconds: float = _SETTLE_SECONDS
    ) -> None:
        self._failing: dict[str, Failing] = {}
        self._settle = settle_seconds
        # The monotonic times of each task's last deaths, to tell a crash loop.
        self._deaths: dict[str, deque[float]] = {}
        self._held: set[str] = set()  # crash-looping tasks told held failing, after a round
        self._up = Gauge(
            "producersync_background_task_up",
            "1 while a background task of this process runs; 0 from its death by an "
            "unexpected error until a restart has completed a round (a crash-looping "
            f"task's, one that has run {_SETTLE_SECONDS:g} s; /healthz answers 503 "
            "meanwhile), by task.",
            ["task"],
            registry=registry,
        )
        self._restarts = Counter(
            "producersync_background_task_restarts",
            "Restarts of a background task of this process after it died of an unexpected "
            "error (logged at ERROR, with its traceback, at the first of a run), by task.",
            ["task"],
            registry=registry,
        )

    def failing(self) -> list[Failing]:
        return sorted(self._failing.values(), key=lambda f: f.component)

    def supervise(self, name: str, run: Run, stop: asyncio.Event) -> Supervised:
        """``run`` under ``name``, until ``stop`` is set."""
        self._up.labels(name).set(1)
        self._restarts.labels(name)  # the series from the start: an alert needs its 0
        return Supervised(self, name, run, stop)

    def is_failing(self, name: str) -> bool:
        return name in self._failing

    def ran(self, name: str, started: float) -> None:
        """``name``'s run begun at ``started`` (``time.monotonic()``) completed a round."""
        if name not in self._failing:
            return
        ran_for = time.monotonic() - started
        if self._looping(name) and ran_for < self._settle:
            if name not in self._held:
                self._held.add(name)
                log.warning(
                    "%s completed a round, but died %d times within %g s: /healthz answers "
                    "503 until a run of it has lasted %g s",
                    name,
                    _LOOPING_DEATHS,
                    _LOOPING_WINDOW_SECONDS,
                    self._settle,
                )
            return
        del self._failing[name]
        self._held.discard(name)
        self._up.labels(name).set(1)
        log.info("%s runs again", name)

    def _looping(self, name: str) -> bool:
        deaths = self._deaths.get(name)
        return (
            deaths is not None
            and len(deaths) == _LOOPING_DEATHS
            and time.monotonic() - deaths[0] < _LOOPING_WINDOW_SECONDS
        )

    def died(self, name: str, exc: Exception, pause: float) -> None:
        deaths = self._deaths.setdefault(name, deque(maxlen=_LOOPING_DEATHS))
        deaths.append(time.monotonic())
        self._up.labels(name).set(0)
        self._restarts.labels(name).inc()
        error = type(exc).__name__
        before = self._failing.get(name)
        if before is None:
            self._failing[name] = Failing(
                component=name, since=dt.datetime.now(dt.UTC), error=error, restarts=1
            )
            log.error(
                "%s stopped on an unexpected error; restarting it in %g s, and /healthz "
                "answers 503 until it runs again",
                name,
                pause,
                exc_info=exc,
            )
            return
        failing = before.model_copy(update={"error": error, "restarts": before.restarts + 1})
        self._failing[name] = failing
        # The traceback was logged at the first death of the run: one line each after.
        log.warning(
            "%s stopped again (%s: %s), %d times since %s; restarting it in %g s",
            name,
            error,
            exc,
            failing.restarts,
            failing.since.isoformat(timespec="seconds"),
            pause,
        )


class Supervised:
    """One task: ``start`` it inside the event loop; once its stop event is set,
    ``finished`` returns when it has."""

    def __init__(self, liveness: Liveness, name: str, run: Run, stop: asyncio.Event) -> None:
        self._liveness, self._name, self._run, self._stop = liveness, name, run, stop
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_running(), name=self._name)

    async def finished(self) -> None:
        if self._task is not None:
            await self._task

    async def _keep_running(self) -> None:
        pause = _FIRST_PAUSE_SECONDS
        while not self._stop.is_set():
            ran = functools.partial(self._liveness.ran, self._name, time.monotonic())
            try:
                await self._run(self._stop, ran)
            except Exception as exc:
                if not self._liveness.is_failing(self._name):
                    pause = _FIRST_PAUSE_SECONDS  # the run before completed a round
                self._liveness.died(self._name, exc, pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=pause)
                pause = min(2 * pause, _LONGEST_PAUSE_SECONDS)
