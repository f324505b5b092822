"""Real `producersync` processes on 127.0.0.1, started and stopped by tests."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import orjson

from tests.support import forked, plain_http
from tests.support.forked import Started
from tests.support.service import free_port

__all__ = [
    "FAST",
    "SCHEDULE",
    "STOP_FALLBACK_SECONDS",
    "ServiceProcess",
    "cli",
    "cli_json",
    "cli_together",
    "foreground",
    "go",
    "service_lives",
    "service_process",
    "services_together",
    "started_ahead",
    "wait_healthy",
]

# How long a SIGTERMed process is waited for before it is killed, as a supervisor's
# SIGKILL follows: a stop that needs more is a stop that loses its process.
STOP_FALLBACK_SECONDS = 20
SCHEDULE = [0.3, 0.6, 1.0]  # three retries after the first attempt
# A service process whose polls, retries and timeouts take a test's time, not a day's.
# The polls look for what another process wrote (the test's daily run, a CLI command): a
# process's own events and subscription jobs wake its dispatcher and job worker at once,
# and a retry falls due at its time whatever the poll. Each poll is a transaction, so an
# idle process polling both every 0.05 s took 0.055-0.074 CPU-s a second (and PostgreSQL
# 0.03 more), 0.025 with deliveries looked for every 0.1 s and jobs at the default 0.5.
FAST = {
    "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true",
    "PRODUCERSYNC_WEBHOOK_POLL_SECONDS": "0.1",
    "PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE": str(SCHEDULE),
    "PRODUCERSYNC_WEBHOOK_RETRY_OVERLOAD_SECONDS": str(SCHEDULE[0]),  # not a minute
    "PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS": "1",
}


def cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``producersync ARGS``, a process of its own (``forked``): its exit code, stdout and
    stderr, as ``subprocess.run(..., capture_output=True, text=True)`` gives them; killed,
    and the timeout raised, if still running after ``timeout`` seconds."""
    (result,) = cli_together([*args], env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"producersync {' '.join(args)} failed:\n{result.stderr}")
    return result


def cli_together(
    *commands: list[str], env: dict[str, str] | None = None, timeout: float = 300
) -> list[subprocess.CompletedProcess[str]]:
    """``producersync <command>`` for each of ``commands``, all started at once; each
    one's result (not checked)."""
    environment = {**os.environ, **(env or {})}
    started = [
        forked.start(args, environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for args in commands
    ]
    return [
        _completed(args, process, timeout) for args, process in zip(commands, started, strict=True)
    ]


def _completed(
    args: list[str], process: Started, timeout: float
) -> subprocess.CompletedProcess[str]:
    """What ``process`` wrote, read to its end, and its exit code; as ``subprocess.run``,
    a process still running after ``timeout`` seconds is killed, and the timeout raised."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, _text(out), _text(err))


def _text(written: bytes | None) -> str:
    """Bytes read as ``text=True`` reads them: the locale's encoding, every line ending
    (a progress bar's carriage returns too) a newline."""
    return io.TextIOWrapper(io.BytesIO(written or b"")).read()


# A terminal starts a foreground command with Ctrl-C neither ignored nor blocked. A child
# inherits both from the process that starts it, and Python leaves an ignored SIGINT
# ignored (as a backgrounded command's is meant to be): a pytest worker that had come by
# either made a Ctrl-C test hang 30 s in three CI runs, the command's main thread polling
# for a handler that was never to run.
_FOREGROUND = (
    "import runpy, signal, sys;"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT});"
    "signal.signal(signal.SIGINT, signal.default_int_handler);"
    "sys.argv = ['producersync', *sys.argv[1:]];"
    "runpy.run_module('producersync.cli.main', run_name='__main__')"
)


def started_ahead(args: list[str], env: dict[str, str], log: Path) -> Started:
    """``producersync ARGS`` (``service run``, ``service worker`` or ``sync run``, in
    ``env``, its output appended to ``log``), started and waiting until ``go``: nothing
    of the command has run yet. The next process of a restart loop, started while the one
    before still runs: an exec's imports are done by then."""
    with log.open("ab") as out:
        return forked.start(
            args,
            {**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            ahead=True,
        )


def go(process: Started) -> Started:
    """A process ``started_ahead`` runs its command from now on."""
    assert process.stdin is not None
    try:
        process.stdin.write(b"\n")
        process.stdin.close()
    except BrokenPipeError:
        pass  # it ended early: its log tells why, where its start is waited for
    return process


def foreground(*args: str) -> list[str]:
    """The command line of ``producersync ARGS`` as a terminal's foreground command, to
    be stopped with Ctrl-C (SIGINT). faulthandler: a SIGABRT prints every thread's stack,
    if a stop hangs."""
    return [sys.executable, "-X", "faulthandler", "-c", _FOREGROUND, *args]


def cli_json(*args: str) -> dict[str, object]:
    value = orjson.loads(cli(*args).stdout)
    assert isinstance(value, dict)
    return value


@dataclass
class ServiceProcess:
    process: Started
    base_url: str
    log: Path

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def service_process(
    database_url: str,
    log_dir: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    command: str = "run",
) -> Iterator[ServiceProcess]:
    """``producersync service <command>`` (``run``: the API; ``worker``: delivery only)."""
    with services_together(database_url, log_dir, [command], *extra, env=env) as (service,):
        yield service


@contextmanager
def services_together(
    database_url: str,
    log_dir: Path,
    commands: list[str],
    *extra: str,
    env: dict[str, str] | None = None,
) -> Iterator[list[ServiceProcess]]:
    """A ``producersync service <command>`` for each of ``commands``, all started at
    once (as a supervisor starts replicas), each then waited for until it answers."""
    started = [_start(database_url, log_dir, command, extra, env) for command in commands]
    try:
        for service in started:
            wait_healthy(service)
        yield started
    finally:
        for service in started:
            _stop(service.process)


@contextmanager
def service_lives(
    database_url: str,
    log_dir: Path,
    lives: int,
    *,
    env: dict[str, str] | None = None,
    command: str = "run",
) -> Iterator[Iterator[ServiceProcess]]:
    """``lives`` ``service_process``es one after the other, as a restart loop runs them:
    each given once it answers, and stopped (unless the test killed it) when the next is
    asked for. Each one's interpreter is ``started_ahead`` while the one before runs, and
    goes once that one has ended: a restart costs its start-up, not its imports too."""
    ahead: list[ServiceProcess] = []

    def each() -> Iterator[ServiceProcess]:
        ahead.append(_start(database_url, log_dir, command, (), env, ahead=True))
        for life in range(lives):
            service = ahead.pop()
            go(service.process)
            if life + 1 < lives:
                ahead.append(_start(database_url, log_dir, command, (), env, ahead=True))
            try:
                wait_healthy(service)
                yield service
            finally:
                _stop(service.process)

    started = each()
    try:
        yield started
    finally:
        started.close()
        for service in ahead:
            service.process.kill()
            service.process.wait()


def _start(
    database_url: str,
    log_dir: Path,
    command: str,
    extra: tuple[str, ...],
    env: dict[str, str] | None,
    *,
    ahead: bool = False,
) -> ServiceProcess:
    port = free_port()
    log = log_dir / f"service-{command}-{port}.log"
    args = ["service", command, "--port", str(port), "--database", database_url, *extra]
    if ahead:
        process = started_ahead(args, env or {}, log)
    else:
        with log.open("wb") as out:
            environment = {**os.environ, **(env or {})}
            process = forked.start(args, environment, stdout=out, stderr=subprocess.STDOUT)
    return ServiceProcess(process, f"http://127.0.0.1:{port}", log)


def wait_healthy(service: ServiceProcess) -> None:
    # Generous: a service restarted into a backlog on a loaded 2-core machine answers
    # slowly, and the suite runs four workers there.
    deadline = time.monotonic() + 120
    while True:
        try:
            if plain_http.get(f"{service.base_url}/healthz", timeout=5).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        if service.process.poll() is not None or time.monotonic() > deadline:
            service.process.kill()
            raise RuntimeError(f"the service did not start:\n{service.log.read_text()}")
        time.sleep(0.1)


def _stop(process: Started) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_FALLBACK_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
