"""The Event catalog: each event type with its description, an example and its JSON
schema (the models' own, so it cannot drift from what is sent)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema
from starlette.responses import Response

from producersync.model.events import EVENT_TYPES
from producersync.service.api.webhooks import EVENT_TYPE_DESCRIPTIONS
from producersync.service.context import get_context
from producersync.service.delivery import management
from producersync.service.delivery.publish import event_time
from producersync.service.portal.auth import SignedIn
from producersync.service.portal.pages import render
from producersync.service.portal.routing import FormRoute

__all__ = ["pretty_example", "router"]

router = APIRouter(route_class=FormRoute)


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def pretty_example(event_type: str, at: dt.datetime) -> str:
    """What Send Example sends for the type ``at`` (a fresh id each call), indented."""
    return _pretty(orjson.loads(management.example_event(event_type, at).to_json()))


class _AsSent(GenerateJsonSchema):
    """An event's schema as a receiver sees it: every field is present, since the sender
    writes them all, defaults included (``type``)."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        return True


def _schema(event_type: str, at: dt.datetime) -> str:
    model = type(management.example_event(event_type, at))
    # Validation mode: the schema a receiver parses the event with.
    schema = model.model_json_schema(schema_generator=_AsSent)
    schema["description"] = EVENT_TYPE_DESCRIPTIONS[event_type]
    return _pretty(schema)


@router.get("/event-types", name="event_types")
def event_types(request: Request, visitor: SignedIn) -> Response:
    with get_context(request).engine.connect() as conn:
        at = event_time(conn)
    catalog = [
        (name, EVENT_TYPE_DESCRIPTIONS[name], pretty_example(name, at), _schema(name, at))
        for name in sorted(EVENT_TYPES)
    ]
    return render(request, "event_types.html", visitor=visitor, catalog=catalog)
