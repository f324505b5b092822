"""What the log pages share (an endpoint's Message Attempts, the account's Messages): the
filter by event type and time their addresses name, the values its fields show, and a
message's payload as shown."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import orjson

from producersync.model.events import KNOWN_TYPES
from producersync.model.spaces import trim
from producersync.service.api.webhook_models import WindowQuery
from producersync.service.portal.forms import FormInvalid, read_times
from producersync.service.store import outbox

__all__ = ["TYPES", "Filters", "Outcome", "Updates", "bounds_of", "payload_of"]

Outcome = Literal["all", "succeeded", "failed"]
Updates = Literal["live", "paused"]
TYPES = sorted(KNOWN_TYPES)


@dataclass(frozen=True, slots=True)
class Filters:
    """The attempts a page shows, as its address names them; every link of the page that
    leads to another view of the list keeps them."""

    outcome: Outcome = "all"
    types: tuple[str, ...] = ()  # none: every type
    since: str = ""  # as typed, shown back in the form; empty: no bound
    until: str = ""
    paused: bool = False

    @classmethod
    def of(
        cls, outcome: Outcome, types: list[str], since: str, until: str, updates: Updates
    ) -> Filters:
        return cls(
            outcome=outcome,
            types=tuple(dict.fromkeys(types)),
            since=trim(since),
            until=trim(until),
            paused=updates == "paused",
        )

    def query(self, **changed: object) -> dict[str, object]:
        """The address's query, with ``changed`` put in."""
        query: dict[str, object] = {
            "outcome": self.outcome if self.outcome != "all" else None,
            "type": list(self.types),
            "since": self.since or None,
            "until": self.until or None,
            # Paused stays paused: back at the newest page, what was stopped would move again.
            "updates": "paused" if self.paused else None,
        }
        return {**query, **changed}

    @property
    def narrowing(self) -> bool:
        return bool(self.types or self.since or self.until)

    def narrowed(self) -> outbox.LogFilter:
        """The store's filter; ``FormInvalid`` on the filter form's fields (named
        ``filter-...``: the Recover form below has a ``since`` of its own)."""
        errors: dict[str, str] = {}
        unknown = [t for t in self.types if t not in KNOWN_TYPES]
        if unknown:
            errors["filter-type"] = (
                f"'{unknown[0][:60]}' is no event type; choose among {', '.join(TYPES)}"
            )
        try:
            typed = {"since": self.since, "until": self.until}
            window = read_times(WindowQuery, typed, prefix="filter-")
        except FormInvalid as exc:
            errors.update(exc.errors)
        else:
            refused = window.until_refused("since")
            if refused is not None:
                errors["filter-until"] = f"'{self.until[:40]}' {refused[1]}"
        if errors:
            raise FormInvalid(errors)
        return window.narrowed(frozenset(self.types) or None)


def bounds_of(filters: Filters, narrowed: outbox.LogFilter) -> tuple[str, str]:
    """The filter form's Since and Until as its fields show them."""
    return _field(narrowed.since, filters.since), _field(narrowed.until, filters.until)


def _field(at: dt.datetime | None, typed: str) -> str:
    """A filter's bound as its ``<input type="datetime-local">`` can hold it: the instant
    in UTC, to the minute, or the second or millisecond it names. As typed, a value the
    field cannot hold (a date alone, a ``Z`` or an offset, a space for the T: the API's
    grammar, which an address may carry) was shown empty while the list was filtered by
    it, and pressing Filter again dropped it. Unread (``None``), as typed: its refusal
    names it."""
    if at is None:
        return typed
    at = at.astimezone(dt.UTC) if at.tzinfo else at
    spec = "milliseconds" if at.microsecond else "seconds" if at.second else "minutes"
    return at.replace(tzinfo=None).isoformat(timespec=spec)


def payload_of(message: outbox.Message) -> str | None:
    """The body every attempt of the message sent, indented to read (it is sent compact);
    None once it has expired."""
    if message.expired:
        return None
    return orjson.dumps(orjson.loads(message.payload), option=orjson.OPT_INDENT_2).decode()
