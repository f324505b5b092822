"""Bytecode for the processes of a test run, written once by the process that starts the
xdist workers when PYTHONDONTWRITEBYTECODE is set (it is where the suite's times are
taken). Without it each worker compiled, and pytest rewrote the asserts of, every module
it collected, and every process a test starts compiled producersync, from their sources
again: a worker's collection of the whole suite took 11.4-12.0 CPU-s, 5.4 with this
bytecode written. The files are gitignored ``__pycache__``'s; a rewritten module's is
pytest's own (``.pyc`` tagged with its version), read back only while its source's hash
holds, as pytest writes it where bytecode may be written."""

from __future__ import annotations

import compileall
import importlib.util
import multiprocessing
import re
import struct
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from _pytest.assertion.rewrite import (
    PYC_TAIL,
    _read_pyc,
    _rewrite_test,
    _write_pyc,
    assertstate_key,
    get_cache_dir,
)
from _pytest.pathlib import fnmatch_ex

import producersync

__all__ = ["rewritten_pyc", "write_bytecode"]

_TESTS = Path(__file__).resolve().parents[1]
# pytest imports these through its assertion rewriting, not with a plain pyc.
_REWRITTEN = re.compile(r"(^|/)(test_[^/]*|[^/]*_test|conftest)\.py$")


# Two processes write it, one a core: one process took 6.1 CPU-s, 9.3 s of a loaded
# 2-core machine, before the workers started.
_WRITERS = 2
# What the writers rewrite with: they are forked, and a config is not sent to a process.
_CONFIG: list[pytest.Config] = []


def write_bytecode(config: pytest.Config) -> None:
    """producersync's and the test helpers' bytecode, and the rewritten bytecode of each
    test module and conftest this run collects, those already current left as they are."""
    compiled = [*Path(producersync.__file__).parent.rglob("*.py"), *_TESTS.rglob("*.py")]
    compiled = [m for m in compiled if not _REWRITTEN.search(m.as_posix()) and _stale(m)]
    rewritten: list[Path] = []
    if config.stash.get(assertstate_key, None) is not None:  # not --assert=plain
        modules = sorted(set(_collected(config)))
        rewritten = [
            module for module in modules if _read_pyc(module, rewritten_pyc(module)) is None
        ]
    if not compiled and not rewritten:
        return
    _CONFIG[:] = [config]
    fork = multiprocessing.get_context("fork")  # xdist has started no thread yet
    try:
        with ProcessPoolExecutor(_WRITERS, mp_context=fork) as writers:
            rewrites = writers.map(_rewrite, rewritten)
            compiles = writers.map(_compile, compiled, chunksize=16)
            list(rewrites)  # a test module that does not parse raises here, as it did
            list(compiles)
    finally:
        _CONFIG.clear()


def _stale(module: Path) -> bool:
    """Whether ``compileall`` would write ``module``'s bytecode again (the source's
    mtime, not its hash, is what its header keeps)."""
    expected = importlib.util.MAGIC_NUMBER + struct.pack(
        "<LL", 0, int(module.stat().st_mtime) & 0xFFFF_FFFF
    )
    try:
        with open(importlib.util.cache_from_source(str(module)), "rb") as pyc:
            return pyc.read(12) != expected
    except OSError:
        return True


def _compile(module: Path) -> None:
    compileall.compile_file(module, quiet=2)


def _rewrite(module: Path) -> None:
    (config,) = _CONFIG
    pyc = rewritten_pyc(module)
    pyc.parent.mkdir(exist_ok=True)
    source_hash, code = _rewrite_test(module, config)
    _write_pyc(config.stash[assertstate_key], code, source_hash, pyc)


def rewritten_pyc(module: Path) -> Path:
    """Where pytest keeps ``module`` with its asserts rewritten."""
    return get_cache_dir(module) / (module.name[:-3] + PYC_TAIL)


def _collected(config: pytest.Config) -> Iterator[Path]:
    """The modules whose asserts pytest rewrites as it collects ``config.args``: the files
    named (a test's or a class's node id names its file), those of the directories named
    that match ``python_files``, and each conftest on their way from the root."""
    patterns = config.getini("python_files")
    root = config.rootpath
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        if path.is_file() and path.suffix == ".py":
            yield path
        elif path.is_dir():
            for module in path.rglob("*.py"):
                if module.name == "conftest.py" or any(fnmatch_ex(p, module) for p in patterns):
                    yield module
        for parent in path.parents:
            if (parent / "conftest.py").is_file():
                yield parent / "conftest.py"
            if parent == root:
                break
