"""The event models: the documented envelope, the three types, extras kept, builders.

(These test ``producersync.model.events``; they live here beside their only consumer until
a ``tests/model`` tree exists.)"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import get_args

import pytest
from pydantic import ValidationError

from producersync.model import (
    EVENT_ADAPTER,
    EVENT_GROUP,
    EVENT_TYPES,
    NPN_ACTIVATED,
    NPN_DEACTIVATED,
    UPDATES_AVAILABLE,
    Event,
    NpnActivated,
    NpnDeactivated,
    UpdatesAvailable,
    new_event_id,
)
from tests.support.snippets import ROOT

DOCUMENTED = (
    b'{ "id": "whe_000012345", "type": "producersync.updates_available",'
    b' "timestamp": "2025-07-24T22:51:05.206Z", "data": { "runDate": "2025-07-24" } }'
)


def test_the_documented_example_parses() -> None:
    event = EVENT_ADAPTER.validate_json(DOCUMENTED)
    assert isinstance(event, UpdatesAvailable)
    assert event.id == "whe_000012345"
    assert event.timestamp == dt.datetime(2025, 7, 24, 22, 51, 5, 206000, tzinfo=dt.UTC)
    assert event.data.run_date == dt.date(2025, 7, 24)


def test_the_documented_example_round_trips_to_the_same_json() -> None:
    event = EVENT_ADAPTER.validate_json(DOCUMENTED)
    assert json.loads(event.to_json()) == json.loads(DOCUMENTED)


def test_type_constants_and_group() -> None:
    assert {UPDATES_AVAILABLE, NPN_ACTIVATED, NPN_DEACTIVATED} == EVENT_TYPES
    assert all(t.startswith(EVENT_GROUP + ".") for t in EVENT_TYPES)
    models = (UpdatesAvailable, NpnActivated, NpnDeactivated)
    assert {m.model_fields["type"].default for m in models} == EVENT_TYPES


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (NpnActivated, {"npn": "15645555", "activatedAt": "2025-07-24T22:51:05Z"}),
        (NpnDeactivated, {"npn": "15645555", "deactivatedAt": "2025-07-24T22:51:05Z"}),
    ],
)
def test_npn_events_parse_by_type(cls: type, data: dict[str, str]) -> None:
    document = {
        "id": "evt_1",
        "type": cls.model_fields["type"].default,  # type: ignore[attr-defined]
        "timestamp": "2025-07-24T22:51:05Z",
        "data": data,
    }
    event = EVENT_ADAPTER.validate_python(document)
    assert type(event) is cls
    assert event.data.npn == "15645555"


def test_unknown_fields_are_kept_in_envelope_and_data() -> None:
    document = json.loads(DOCUMENTED)
    document["channel"] = "x"
    document["data"]["source"] = "NIPR"
    event = EVENT_ADAPTER.validate_python(document)
    assert event.model_extra == {"channel": "x"}
    assert json.loads(event.to_json()) == document


def test_timestamps_are_converted_to_utc() -> None:
    event = NpnActivated.model_validate(
        {
            "id": "evt_1",
            "type": NPN_ACTIVATED,
            "timestamp": "2025-07-25T05:51:05+07:00",
            "data": {"npn": "1", "activatedAt": "2025-07-24T22:51:05"},
        }
    )
    assert event.timestamp == dt.datetime(2025, 7, 24, 22, 51, 5, tzinfo=dt.UTC)
    assert event.timestamp.tzinfo is dt.UTC
    assert event.data.activated_at.tzinfo is dt.UTC
    assert json.loads(event.to_json())["timestamp"] == "2025-07-24T22:51:05.000Z"


def test_microseconds_survive_the_json_form() -> None:
    at = dt.datetime(2025, 7, 24, 22, 51, 5, 123456, tzinfo=dt.UTC)
    event = UpdatesAvailable.create(dt.date(2025, 7, 24), timestamp=at)
    assert EVENT_ADAPTER.validate_json(event.to_json()) == event


@pytest.mark.parametrize("npn", ["", "12345678901", "12a", "\u0661\u0662"])
def test_a_bad_npn_is_rejected(npn: str) -> None:
    with pytest.raises(ValidationError):
        NpnDeactivated.create(npn)


def test_events_are_immutable() -> None:
    event = UpdatesAvailable.create(dt.date(2025, 7, 24))
    with pytest.raises(ValidationError):
        event.id = "other"  # type: ignore[misc]


def test_create_fills_id_and_time() -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    event = NpnActivated.create("15645555")
    assert re.fullmatch(r"evt_[0-9a-f]{24}", event.id)
    assert before <= event.timestamp <= dt.datetime.now(dt.UTC)
    assert event.timestamp.microsecond % 1000 == 0
    assert event.data.activated_at == event.timestamp
    assert EVENT_ADAPTER.validate_json(event.to_json()) == event


def test_create_takes_explicit_values() -> None:
    at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    event = NpnDeactivated.create("7", at, event_id="evt_x", timestamp=at)
    assert (event.id, event.timestamp, event.data.deactivated_at) == ("evt_x", at, at)


def test_new_event_ids_are_unique() -> None:
    assert len({new_event_id() for _ in range(1000)}) == 1000


def test_the_integration_guide_names_every_event_verify_returns() -> None:
    """Its webhooks section named three, and ``verify`` returned a fourth, ``EndpointTest``,
    the first delivery an endpoint saved on our service gets."""
    section = (ROOT / "docs/integration.md").read_text().split("\n## 6. Webhooks", 1)[1]
    section = section.split("\n## ", 1)[0]
    returned = get_args(get_args(Event)[0])
    assert {model.__name__ for model in returned} == {
        "UpdatesAvailable",
        "NpnActivated",
        "NpnDeactivated",
        "EndpointTest",
    }
    for model in returned:
        assert f"`{model.__name__}`" in section, model.__name__
