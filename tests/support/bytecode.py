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
import re
from collections.abc import Iterator
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


def write_bytecode(config: pytest.Config) -> None:
    """producersync's and the test helpers' bytecode, and the rewritten bytecode of each
    test module and conftest this run collects, those already current left as they are."""
    compileall.compile_dir(Path(producersync.__file__).parent, quiet=2)
    compileall.compile_dir(_TESTS, quiet=2, rx=_REWRITTEN)
    state = config.stash.get(assertstate_key, None)
    if state is None:
        return  # --assert=plain: no module is rewritten
    for module in sorted(set(_collected(config))):
        pyc = rewritten_pyc(module)
        if _read_pyc(module, pyc) is None:
            pyc.parent.mkdir(exist_ok=True)
            source_hash, code = _rewrite_test(module, config)
            _write_pyc(state, code, source_hash, pyc)


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
