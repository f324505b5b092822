"""`producersync` processes forked from templates that have already imported their command.

Why: the suite is CPU-bound on a 2-core machine, and most of a `service run`'s or a
`sync run`'s CPU at start was its imports (fastapi, SQLAlchemy, DBOS, the models: 1.0 to
1.4 CPU-s a start, hundreds of starts). Each pytest worker starts, for each kind of
command, one template: a Python process that imports what that command runs (``RUNS``,
and nothing more: a process that had imported the other half's modules registered its
DBOS workflows too) and forks a child for each start. Every other command (``cli``'s
one-shot commands: 0.9 to 1.0 CPU-s each on average exec'd, 0.55 forked) is forked from a
template that has imported the command itself, ``producersync.cli.main``. The child is a
real process of its own, which the test signals by pid, waits for and reads the output
of as before; only the imports are skipped. ``producersync`` reads its settings, and
makes its consoles, when a command runs, not when a module is imported, so the child
runs in the environment and on the streams it is given.

A template receives, on a Unix socket, a start's arguments, environment, working
directory and whether it waits for a line on its stdin first (``started_ahead``), with
the child's stdin, stdout and stderr as file descriptors (SCM_RIGHTS). It forks; the
child takes them as its own and runs ``python -m producersync.cli.main`` as the
interpreter would (``runpy``: the same ``__main__``, the same program name in usage
lines), ending as an interpreter ends (non-daemon threads joined, atexit handlers run).
The template reaps it and sends its exit status on the connection of its start, as
``subprocess`` reports it (a negative signal number when a signal ended it).

``PS_TESTS_EXEC=1`` starts every process with exec instead, as does the ``exec`` marker
for a test about a start itself; so does a template that fails to start or to answer.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import runpy
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["EXEC_VARIABLE", "RUNS", "Forked", "Started", "close_templates", "exec_only", "start"]

EXEC_VARIABLE = "PS_TESTS_EXEC"
# What each command imports once it runs, and nothing more: the modules of the other
# process register DBOS workflows and queues, and a sync process that had imported the
# service's never resumed the sync it was restarted to take back.
RUNS = {
    ("service", "run"): "producersync.service.app",
    ("service", "worker"): "producersync.service.worker",
    ("sync", "run"): "producersync.sync.app",
}
# The command itself: what every other command's template imports. Its modules read no
# setting as they are imported (the consoles are made at their first use), and each
# command imports what it runs in its body.
_CLI_MODULE = "producersync.cli.main"
# What the interpreter reads once, as it starts (the PYTHON variables but PYTHONPATH, which
# a child reads again, and the locale: the streams' encoding), and what the template's
# imports read (Typer, whether it prints with Rich), and where the CA roots are (the SDK's
# TLS context, made in a template that imports the SDK: ``_serve``): a child is what an
# exec would be only in an environment that agrees with its template's on each
# (``tests/test_forked.py``).
_READ_AT_START = (
    *("LANG", "LC_ALL", "LC_CTYPE", "TYPER_USE_RICH"),
    *("SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE"),
)
# How long a template may take to import, and to answer a start: past either, the start
# is an exec.
_READY_SECONDS = 60
_ANSWER_SECONDS = 20
_ROOT = str(Path(__file__).resolve().parents[2])

# The next process of a restart loop, started while the one before still runs: it imports
# what its command runs, then waits for a line on its stdin before it runs the command.
_AHEAD = (
    "import importlib, sys;"
    "from producersync.cli.main import main;"
    "importlib.import_module(sys.argv.pop(1));"
    "sys.stdin.readline();"
    "sys.argv = ['producersync', *sys.argv[1:]];"
    "main()"
)

_exec_only = False


def exec_only(value: bool) -> None:
    """Whether the processes started from now on start with exec (a test about a start
    itself: its imports, its signals at start)."""
    global _exec_only
    _exec_only = value


def start(
    args: list[str],
    env: dict[str, str],
    *,
    stdin: int | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    ahead: bool = False,
    faults: bool = False,
) -> Started:
    """``producersync ARGS`` in exactly ``env``, started from its kind's template (or with
    exec): ``stdin`` is ``subprocess.PIPE``, ``DEVNULL`` or None, ``stdout`` and ``stderr``
    a file, a descriptor, ``subprocess.PIPE``, ``DEVNULL``, ``STDOUT`` (stderr) or None
    (this process's). ``ahead`` (a command of ``RUNS``): it imports and waits until a line on its
    stdin (``processes.go``); ``faults``: a SIGABRT writes every thread's stack to its
    stderr. A command whose stdout is a terminal is an exec: the interpreter writes to a
    terminal line by line, as it decides when it starts."""
    kind = RUNS.get((args[0], args[1]), _CLI_MODULE) if len(args) > 1 else _CLI_MODULE
    forks = not (_exec_only or os.environ.get(EXEC_VARIABLE) == "1")
    # subprocess.PIPE and DEVNULL are negative descriptors: no terminal.
    if forks and not os.isatty(_fd(stdout, 1)):
        template = _template(kind)
        if template is not None and template.serves(env):
            forked = template.start(args, env, stdin, stdout, stderr, ahead, faults)
            if forked is not None:
                return forked
    if ahead:
        command = [sys.executable, "-c", _AHEAD, RUNS[args[0], args[1]], *args]
    else:
        command = [sys.executable, *(["-X", "faulthandler"] if faults else []), "-m"]
        command += [_CLI_MODULE, *args]
    return subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr, env=env)


class Forked:
    """A started process as ``subprocess.Popen`` shows one: ``pid``, ``poll``, ``wait``,
    ``communicate``, ``returncode``, ``send_signal``, ``terminate``, ``kill``, ``stdin``,
    ``stdout``, ``stderr``. Its exit status comes from its template, on the connection of
    its start."""

    def __init__(
        self,
        args: list[str],
        pid: int,
        answers: socket.socket,
        pipes: tuple[IO[bytes] | None, IO[bytes] | None, IO[bytes] | None],
    ):
        self.args = args
        self.pid = pid
        self.stdin, self.stdout, self.stderr = pipes
        self.returncode: int | None = None
        self._answers = answers
        self._answered = b""
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        return self._status(0)

    def wait(self, timeout: float | None = None) -> int:
        status = self._status(timeout)
        if status is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return status

    def communicate(self, timeout: float | None = None) -> tuple[bytes | None, bytes | None]:
        """As ``Popen.communicate`` with no input: stdin closed, what the process wrote
        to its stdout and stderr pipes read to their ends, then its exit awaited."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.stdin is not None:
            self.stdin.close()
        fds = [None if pipe is None else pipe.fileno() for pipe in (self.stdout, self.stderr)]
        pipes = {pipe.fileno(): pipe for pipe in (self.stdout, self.stderr) if pipe is not None}
        read = {fd: bytearray() for fd in pipes}
        with selectors.DefaultSelector() as selector:
            for fd in pipes:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                ready = selector.select(_left(deadline))
                if not ready:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0)
                for key, _ in ready:
                    chunk = os.read(key.fd, 65536)
                    read[key.fd] += chunk
                    if not chunk:
                        selector.unregister(key.fd)
                        pipes[key.fd].close()
        self.wait(_left(deadline))
        out, err = (None if fd is None else bytes(read[fd]) for fd in fds)
        return out, err

    def send_signal(self, sig: int) -> None:
        # As Popen: a process known to have ended is not signalled (its pid may be reused).
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _status(self, timeout: float | None) -> int | None:
        # As Popen's: a poll while another thread waits does not wait with it.
        if not self._lock.acquire(blocking=timeout != 0):
            return self.returncode
        try:
            if self.returncode is None:
                self.returncode = self._answer(timeout)
            return self.returncode
        finally:
            self._lock.release()

    def _answer(self, timeout: float | None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._answered.endswith(b"\n"):
            self._answers.settimeout(_left(deadline))
            try:
                chunk = self._answers.recv(64)
            except (TimeoutError, BlockingIOError):
                return None
            if not chunk:
                return self._orphaned(deadline)
            self._answered += chunk
        self._answers.close()
        status: int = json.loads(self._answered)["status"]
        return status

    def _orphaned(self, deadline: float | None) -> int | None:
        """The status of a child whose template died without telling it: no child of ours
        to wait for, it is taken as killed once its pid is gone."""
        while True:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return -signal.SIGKILL
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.1)


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


# A started process: exec'd or forked, the same calls.
Started = subprocess.Popen[bytes] | Forked


def _read_line(conn: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise ValueError("no answer")
        line += chunk
    return line


class _Template:
    """One kind's template, for this process's starts."""

    def __init__(self, module: str):
        self.directory = tempfile.mkdtemp(prefix="ps-template-")
        self.path = os.path.join(self.directory, "socket")
        self.log = Path(self.directory) / "template.log"
        self.interpreter = _interpreter(os.environ)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _ENTRY, _ROOT, module, self.path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], _READY_SECONDS)
        if not ready or self.process.stdout.readline() != b"ready\n":
            self.process.kill()
            message = self.log.read_text()
            self.close()
            raise RuntimeError(f"the template of {module} did not start:\n{message}")

    def serves(self, env: dict[str, str]) -> bool:
        """Whether a child of it is what an exec in ``env`` would be: the variables read
        at the start (``_READ_AT_START``) are the template's."""
        return _interpreter(env) == self.interpreter

    def start(
        self,
        args: list[str],
        env: dict[str, str],
        stdin: int | None,
        stdout: int | IO[Any] | None,
        stderr: int | IO[Any] | None,
        ahead: bool,
        faults: bool,
    ) -> Forked | None:
        """The started process, or None when the template does not answer (it is then
        stopped, and the next starts are execs)."""
        theirs: list[int] = []  # the child's ends of its pipes: closed here once sent
        ours: list[IO[bytes] | None] = []
        fds: list[int] = []
        for n, stream in enumerate((stdin, stdout, stderr)):
            if stream == subprocess.PIPE:
                read, write = os.pipe()
                theirs.append(read if n == 0 else write)
                ours.append(os.fdopen(write, "wb") if n == 0 else os.fdopen(read, "rb"))
                fds.append(theirs[-1])
            elif stream == subprocess.DEVNULL:
                theirs.append(os.open(os.devnull, os.O_RDWR))
                ours.append(None)
                fds.append(theirs[-1])
            else:
                ours.append(None)
                fds.append(fds[1] if stream == subprocess.STDOUT else _fd(stream, n))
        request = {"args": args, "env": env, "cwd": os.getcwd(), "ahead": ahead}
        request["faults"] = faults
        body = json.dumps(request).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(_ANSWER_SECONDS)
        try:
            conn.connect(self.path)
            socket.send_fds(conn, [struct.pack("!I", len(body))], fds)
            conn.sendall(body)
            pid = json.loads(_read_line(conn))["pid"]
        except (OSError, ValueError, KeyError):
            conn.close()
            for pipe in ours:
                if pipe is not None:
                    pipe.close()
            _stopped(self)
            return None
        finally:
            for fd in theirs:
                os.close(fd)
        return Forked(args, pid, conn, (ours[0], ours[1], ours[2]))

    def close(self) -> None:
        """Stopped once its starts have ended (its lifeline, its stdin, closed); killed
        after a minute. The template waits for its children, whose CPU it so reports."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.stdout.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for name in os.listdir(self.directory):
            os.unlink(os.path.join(self.directory, name))
        os.rmdir(self.directory)


def _interpreter(env: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in env.items()
        if (k.startswith("PYTHON") and k != "PYTHONPATH") or k in _READ_AT_START
    }


def _python_path(env: Mapping[str, str]) -> list[str]:
    """The directories of PYTHONPATH in ``env``, as the interpreter puts them on its path
    (an empty one is the working directory)."""
    value = env.get("PYTHONPATH")
    return [os.path.abspath(entry) for entry in value.split(os.pathsep)] if value else []


def _fd(target: int | IO[Any] | None, default: int) -> int:
    if target is None:
        return default
    return target if isinstance(target, int) else target.fileno()


_templates: dict[str, _Template | None] = {}
_templates_lock = threading.Lock()


def _template(module: str) -> _Template | None:
    with _templates_lock:
        if module not in _templates:
            try:
                _templates[module] = _Template(module)
            except (OSError, RuntimeError) as exc:
                print(f"forked: exec for {module}: {exc}", file=sys.stderr)
                _templates[module] = None
        return _templates[module]


def _stopped(template: _Template) -> None:
    with _templates_lock:
        for module, known in _templates.items():
            if known is template:
                _templates[module] = None
    print(f"forked: a template stopped answering:\n{template.log.read_text()}", file=sys.stderr)
    template.process.kill()
    template.close()


def close_templates() -> None:
    """Every template stopped, once its children have ended (at the session's end: the
    template waits for them, and so counts their CPU as its children's)."""
    with _templates_lock:
        for template in _templates.values():
            if template is not None:
                template.close()
        _templates.clear()


# The template's program. It imports only the standard library and this module before its
# command's modules, and serves from one thread: a fork copies the calling thread only.
_ENTRY = (
    "import sys;"
    "path = list(sys.path);"
    "sys.path.insert(0, sys.argv[1]);"
    "from tests.support.forked import _serve, _become;"
    "_become(_serve(sys.argv[2], sys.argv[3]), path)"
)


def _serve(module: str, path: str) -> dict[str, Any]:
    """The template's loop: a start's request, in the child it forked (the template
    itself returns only by exiting). No ``with`` or ``finally`` here: the child leaves
    through the same frames."""
    import importlib

    importlib.import_module(module)
    # The SDK's one TLS context, its CA roots loaded (25-45 ms of CPU), made once here for
    # each child that makes a client (`sync run`'s, though its API is http://): the one
    # the child would make, in an environment whose certificate variables are the
    # template's (``_READ_AT_START``).
    ssl_module = sys.modules.get("producersync.client._ssl")
    if ssl_module is not None:
        ssl_module.shared_ssl_context()
    # `python -m` runs the command's module as __main__ alone, never under its name (runpy
    # warns of one imported before it runs it): the template keeps what it imported.
    if sys.modules.pop(_CLI_MODULE, None) is not None:
        package, _, name = _CLI_MODULE.rpartition(".")
        delattr(sys.modules[package], name)
    # What is imported here is shared by every child: no thread may run, and no file
    # but the template's own may be open (a child would share its offset, or close it).
    assert threading.active_count() == 1, threading.enumerate()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd: pid, connection
    lifeline = True
    while lifeline or children:
        waiting = [*children, *([0, listener] if lifeline else [])]
        ready, _, _ = select.select(waiting, [], [])
        for fd in ready:
            if fd == 0:
                lifeline = os.read(0, 1) != b""
            elif fd is listener:
                conn, _ = listener.accept()
                conn.settimeout(_ANSWER_SECONDS)
                try:
                    request, fds = _request(conn)
                except (OSError, ValueError) as exc:
                    print(f"a start refused: {exc!r}", file=sys.stderr)
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for pidfd, (_, other) in children.items():
                        os.close(pidfd)
                        other.close()
                    conn.close()
                    request["fds"] = fds
                    return request
                for received in set(fds):
                    os.close(received)
                children[os.pidfd_open(pid)] = pid, conn
                _answer(conn, {"pid": pid})
            else:
                pid, conn = children.pop(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                _answer(conn, {"status": os.waitstatus_to_exitcode(status)})
                conn.close()
    sys.exit(0)


def _request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    head, fds, _, _ = socket.recv_fds(conn, 4, 3)
    if len(head) != 4 or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError(f"a request of {len(head)} bytes and {len(fds)} descriptors")
    (size,) = struct.unpack("!I", head)
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("a request cut short")
        body += chunk
    return json.loads(body), fds


def _answer(conn: socket.socket, answer: dict[str, int]) -> None:
    with contextlib.suppress(OSError):  # its requester gone, nothing waits for the answer
        conn.sendall(json.dumps(answer).encode() + b"\n")


def _become(request: dict[str, Any], path: list[str]) -> None:
    template_path = _python_path(os.environ)
    """The forked child: the process a start asked for, then ``python -m
    producersync.cli.main ARGS`` in it."""
    fds = request["fds"]
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()  # the time module read TZ as the template imported it
    # As `python -m` sets it up: the working directory, then PYTHONPATH's, no test
    # directory.
    sys.path[:] = [os.getcwd(), *_python_path(os.environ), *path[1 + len(template_path) :]]
    # A terminal's foreground command: Ctrl-C neither ignored nor blocked, whatever the
    # pytest worker that started the template had come by.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    if request["faults"]:
        faulthandler.enable()
    if request["ahead"]:
        sys.stdin.readline()
    sys.argv = ["producersync", *request["args"]]
    runpy.run_module(_CLI_MODULE, run_name="__main__", alter_sys=True)
