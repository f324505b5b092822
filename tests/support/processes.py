"""Real `producersync` processes on 127.0.0.1, started and stopped by tests."""

from __future__ import annotations

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

from tests.support.service import free_port

__all__ = ["FAST", "SCHEDULE", "ServiceProcess", "cli", "cli_json", "service_process"]

_CLI = [sys.executable, "-m", "producersync.cli.main"]
SCHEDULE = [0.3, 0.6, 1.0]  # three retries after the first attempt
# A service process whose polls, retries and timeouts take a test's time, not a day's.
FAST = {
    "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true",
    "PRODUCERSYNC_WEBHOOK_POLL_SECONDS": "0.05",
    "PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE": str(SCHEDULE),
    "PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS": "1",
    "PRODUCERSYNC_JOB_POLL_SECONDS": "0.05",
}


def cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*_CLI, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"producersync {' '.join(args)} failed:\n{result.stderr}")
    return result


def cli_json(*args: str) -> dict[str, object]:
    value = orjson.loads(cli(*args).stdout)
    assert isinstance(value, dict)
    return value


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
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
    port = free_port()
    log = log_dir / f"service-{command}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*_CLI, "service", command, "--port", str(port), "--database", database_url, *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    base = f"http://127.0.0.1:{port}"
    # Generous: a service restarted into a backlog on a loaded 2-core machine answers
    # slowly, and the suite runs four workers there.
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx2.get(f"{base}/healthz", timeout=5).status_code == 200:
                break
        except httpx2.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the service did not start:\n{log.read_text()}")
        time.sleep(0.1)
    try:
        yield ServiceProcess(process, base, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
