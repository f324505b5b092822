"""Finding credentials in what the suite logs: client secrets (``pss_``), access tokens
(JWTs), webhook secrets (``whsec_``), portal login links (``psl_``) and a URL's password,
by their formats, and by the exact values the tests created (with and without their
prefixes, so a leak that strips the prefix is found too; portal session ids, which have no
format of their own, by value alone).

``tests/conftest.py`` runs one scanner per session (per xdist worker): every log record
of the test process as it is emitted, and at the end every ``*.log`` file under the
worker's temporary directory (each service and sync process writes one there).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import pytest

from producersync.log_json import json_formatter
from producersync.service.auth.tokens import TokenCodec
from producersync.service.store import accounts, endpoints, portal
from producersync.url_userinfo import masked

__all__ = ["PATTERNS", "SecretScanner"]

PATTERNS: Final = {
    # service/auth/secrets.py: "pss_" + token_urlsafe(32), 43 characters.
    "client secret": re.compile(r"pss_[A-Za-z0-9_-]{40,}"),
    # service/auth/tokens.py: HS256 JWTs; header and claims are base64url JSON ("eyJ").
    "access token": re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}"),
    # webhooks/secret.py: "whsec_" + standard base64 of 24 to 64 bytes.
    "webhook secret": re.compile(r"whsec_[A-Za-z0-9+/]{32,}={0,2}"),
    # service/store/portal.py: "psl_" + token_urlsafe(32), a login link's token.
    "portal login link": re.compile(r"psl_[A-Za-z0-9_-]{40,}"),
    # A database's, Redis's or an API gateway's URL: masked, it shows "//***@" and no ":".
    "URL password": re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:[^\s/@]+@"),
}
_PREFIXES: Final = ("pss_", "whsec_", "psl_")
_MIN_EXACT: Final = 16  # shorter values (test placeholders) would match by chance
_BLOCK: Final = _MIN_EXACT // 2


class SecretScanner:
    """Remembers secrets, and finds them (or anything of their formats) in text."""

    def __init__(self) -> None:
        self._exact: set[str] = set()
        # Every _BLOCK characters of each secret, at each offset: (secret, offset). A
        # regex of every secret in one alternation was recompiled as each new one came
        # and tried each at every position of a line (2 ms a line at 3,000 secrets).
        self._blocks: dict[str, list[tuple[str, int]]] = {}
        self.hits: list[str] = []

    def remember(self, value: str) -> None:
        parts = {value, *(value.removeprefix(p) for p in _PREFIXES if value.startswith(p))}
        if value.count(".") == 2:  # a JWT: its signature alone is the secret part
            parts.add(value.rsplit(".", 1)[1])
        for part in {part for part in parts if len(part) >= _MIN_EXACT} - self._exact:
            self._exact.add(part)
            for offset in range(len(part) - _BLOCK + 1):
                self._blocks.setdefault(part[offset : offset + _BLOCK], []).append((part, offset))

    def find(self, text: str) -> list[str]:
        """What in ``text`` is a secret: each named by kind and its first characters only
        (the report must not leak it again)."""
        found = [
            f"{kind} {match.group()[:10]}..."
            for kind, pattern in PATTERNS.items()
            for match in pattern.finditer(text)
        ]
        return found + [
            f"a secret the tests created, {text[start : start + 6]}..."
            for start in self._created(text)
        ]

    def _created(self, text: str) -> list[int]:
        """Where the secrets the tests created start in ``text``, leftmost first, and of
        those that overlap the first alone (as a regex of them all would find them). The
        text is read a block at a time: a secret's first ``_BLOCK`` characters hold the
        start of a block, and the block ends inside the secret (``_MIN_EXACT`` characters
        or more), which ``_blocks`` holds at that offset."""
        spans = {
            (start, start + len(part))
            for at in range(0, len(text) - _BLOCK + 1, _BLOCK)
            for part, offset in self._blocks.get(text[at : at + _BLOCK], ())
            if (start := at - offset) >= 0 and text.startswith(part, start)
        }
        starts: list[int] = []
        end = 0
        for start, stop in sorted(spans, key=lambda span: (span[0], -span[1])):
            if start >= end:
                starts.append(start)
                end = stop
        return starts

    def scan_lines(self, where: str, lines: Iterable[str]) -> None:
        for number, line in enumerate(lines, 1):
            self.hits += [f"{where}:{number}: {hit}" for hit in self.find(line)]

    def scan_files(self, root: Path, pattern: str = "*.log") -> None:
        for path in sorted(root.rglob(pattern)):
            with path.open(encoding="utf-8", errors="replace") as lines:
                self.scan_lines(str(path), lines)

    @contextmanager
    def watching_logs(self, root: str = "", ours: str = "producersync") -> Iterator[None]:
        """Scan every record that reaches the ``root`` logger meanwhile (``ours`` at DEBUG,
        so that its quietest lines are scanned too)."""
        handler = _Handler(self)
        top, quiet = logging.getLogger(root or None), logging.getLogger(ours)
        level = quiet.level
        top.addHandler(handler)
        quiet.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            quiet.setLevel(level)
            top.removeHandler(handler)

    @contextmanager
    def remembering_created(self) -> Iterator[None]:
        """Remember every client secret, webhook secret, access token, portal login link
        and portal session id created in this process meanwhile (the service's own
        generators, wrapped)."""
        with pytest.MonkeyPatch.context() as patch:
            for owner, name in (
                (accounts, "new_client_secret"),
                (endpoints, "generate_secret"),
                (TokenCodec, "issue"),
                (portal, "issue_link"),
                (portal, "redeem_link"),
            ):
                patch.setattr(owner, name, self._recording(getattr(owner, name)))
            yield

    def _recording(self, create: Any) -> Any:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            value = create(*args, **kwargs)
            # issue_link gives its token with its expiry.
            self.remember(value[0] if isinstance(value, tuple) else value)
            return value

        return recorded


class _Handler(logging.Handler):
    def __init__(self, scanner: SecretScanner) -> None:
        super().__init__(logging.DEBUG)
        self._scanner = scanner
        # A record as a JSON line shows it: its message and its fields (``extra=``).
        self.setFormatter(json_formatter())

    def emit(self, record: logging.LogRecord) -> None:
        # Its traceback's lines of source left out: a test's own literals are no leak.
        text = self.format(logging.makeLogRecord({**vars(record), "exc_info": None}))
        failure = record.exc_info[1] if record.exc_info else None
        # Every exception of the chain: a log's traceback shows each one's message, its
        # URLs masked as the log formats mask them.
        seen: set[int] = set()
        while failure is not None and id(failure) not in seen:
            seen.add(id(failure))
            text += f"\n{masked(repr(failure))}"
            # As a traceback follows it: a context ``raise ... from None`` hid is not shown.
            hidden = failure.__suppress_context__
            failure = failure.__cause__ or (None if hidden else failure.__context__)
        self._scanner.scan_lines(f"log record {record.name}", [text])
