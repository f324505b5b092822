"""Form input in the management rules' terms, and refusals back onto the form's fields.

What a field must look like is checked here (the API's request model for an endpoint,
so the column limits are the API's); whether the value is allowed is the rules' call
(``delivery/management.py``), and their refusal is shown beside the field it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from producersync.model.spaces import trim
from producersync.model.validation import reason
from producersync.service.api.webhook_models import EndpointCreate
from producersync.service.delivery import management
from producersync.service.portal.pages import PortalError
from producersync.service.store.endpoints import Endpoint, EndpointChanges

__all__ = [
    "EndpointForm",
    "FormInvalid",
    "form_fault",
    "parse_rate_limit",
    "read_times",
    "rule_errors",
]

# The rules and the API name fields in camelCase; the forms name them as their inputs.
_FIELDS = {
    "url": "url",
    "description": "description",
    "eventTypes": "events",
    "rateLimitPerSecond": "rate_limit",
    "since": "since",
    "eventType": "type",
}
_DIGITS = re.compile(r"[0-9]+")
_Times = TypeVar("_Times", bound=BaseModel)


def _lines(text: str) -> str:
    """Line breaks as LF. A browser sends those of a textarea as CRLF, whatever they were
    given as (the HTML parser reads a CR, alone or before LF, as LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


class FormInvalid(Exception):
    """Form input that cannot be taken as it is: a message per form field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = {field: _sentence(message) for field, message in errors.items()}


def form_fault(field: str, value: str, what: str) -> PortalError:
    """A hidden field of a portal page's form that is not what the page made."""
    return PortalError(
        400,
        "This form cannot be read",
        f"Field '{field}' is not {what}: '{value[:60]}'. Nothing was changed: send the "
        "form from its page.",
        back=("endpoints", "Back to Endpoints"),
    )


@contextmanager
def rule_errors() -> Iterator[None]:
    """A rule's refusal as a ``FormInvalid`` on the field it names."""
    try:
        yield
    except management.EndpointRuleError as exc:
        raise FormInvalid({_FIELDS.get(exc.field, exc.field): str(exc)}) from None


def _why(error: ErrorDetails) -> str:
    """Why a field's value was refused. One too long says by how much: pydantic's "String
    should have at most 500 characters" named not the length typed, which a description
    pasted from elsewhere had to be counted for."""
    if error["type"] == "string_too_long":
        typed, most = len(error["input"]), error["ctx"]["max_length"]
        return f"too long: {typed:,} characters, at most {most:,}"
    return reason(error)


@dataclass(frozen=True, slots=True)
class EndpointForm:
    """The Add Endpoint and Edit forms: what was typed, to check or to show again."""

    url: str = ""
    description: str = ""
    # None ticked: no filter, every type (the API's ``eventTypes: null``). Shown as the
    # group ticked, an endpoint without a filter would be saved with ``["producersync"]``,
    # its filter changed by an edit of another field; the group stays a choice of its own.
    events: tuple[str, ...] = ()

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointForm:
        return cls(endpoint.url, endpoint.description, tuple(endpoint.event_types or ()))

    def checked(self) -> EndpointCreate:
        # Trimmed of the API's spaces alone: a no-break space before it is refused, as
        # the API refuses it, not taken as it was.
        if not trim(self.url):
            raise FormInvalid({"url": "give the URL to send the events to"})
        try:
            return EndpointCreate.model_validate(
                {
                    "url": trim(self.url),
                    "description": _lines(self.description).strip(),
                    "eventTypes": list(self.events) or None,
                }
            )
        except ValidationError as exc:
            errors: dict[str, str] = {}
            for error in exc.errors():
                field = _FIELDS.get(str(error["loc"][0]), str(error["loc"][0]))
                errors.setdefault(field, _why(error))
            raise FormInvalid(errors) from None

    def changes(self, endpoint: Endpoint) -> EndpointChanges:
        """The Edit form's changes to the endpoint. A description sent back as the form
        showed it is left as it is: the API takes any (line breaks, outer spaces, a CR),
        and an edit of another field changed it to what the browser and the checks here
        make of it."""
        body = self.checked()
        shown = _lines(self.description) == _lines(endpoint.description)
        return EndpointChanges(
            url=body.url,
            description=None if shown else body.description,
            event_types=body.event_types,
            all_event_types=body.event_types is None,
        )


def parse_rate_limit(value: str) -> int | None:
    """Attempts per second; empty: no limit. The range is the rules' to check."""
    value = trim(value)
    if not value:
        return None
    if not _DIGITS.fullmatch(value):
        raise FormInvalid(
            {
                "rate_limit": f"'{value[:20]}' is not a whole number: give attempts per "
                "second (1 to 10000), or leave it empty for no limit"
            }
        )
    if len(value.lstrip("0")) > 9:
        # Out of range whatever it is, and not read: int() refuses thousands of digits.
        # Not "no whole number", which it is.
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise FormInvalid({"rate_limit": f"{shown} is not between 1 and 10000"})
    return int(value)


def read_times(model: type[_Times], typed: dict[str, str], *, prefix: str = "") -> _Times:
    """The times ``typed`` in the form (by field, empty: not given), read as the API reads
    them: by ``model``, its request model (``WindowQuery``, ``RecoverRequest``), in the
    one grammar the spec publishes. A form of its own read what ``fromisoformat`` reads,
    which the API refuses (2025-06-01T09, 20250601, 2025-W01-1) and not all it takes
    (a lowercase z). ``prefix``: before the fields' names in the form (``filter-``)."""
    try:
        return model.model_validate({k: v for k, v in typed.items() if trim(v)})
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0])
            value = typed.get(field, "")
            shown = (
                f"'{value[:40]}' is {reason(error)}"
                if trim(value)
                else "give a date and time (UTC), such as 2025-06-01T09:00"
            )
            errors.setdefault(prefix + field, shown)
        raise FormInvalid(errors) from None
