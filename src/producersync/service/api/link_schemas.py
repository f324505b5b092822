"""Each record's ``links`` in the spec: the relations the service really sends.

The record models keep ``links`` a plain dict (a page holds thousands of them), which the
spec showed as a free-form object: a client generated from it had no ``self`` or
``entity`` to follow, only a dict of whatever came. Each record now refers to its own
``<Record>Links`` schema, naming the relations ``store.documents`` builds.
"""

from __future__ import annotations

from typing import Any

from producersync.service.api.resources import RESOURCES
from producersync.service.store.documents import link_relations

__all__ = ["add_link_schemas"]

_HREF = {"$ref": "#/components/schemas/Href"}


def add_link_schemas(spec: dict[str, Any]) -> None:
    schemas = spec.get("components", {}).get("schemas", {})
    for resource in RESOURCES:
        record = schemas.get(resource.singular)
        if record is None:
            continue
        always, sometimes = link_relations(resource.table)
        name = f"{resource.singular}Links"
        schemas[name] = {
            "title": name,
            "type": "object",
            "description": "HAL links of the record, each an absolute URL",
            "properties": {relation: _HREF for relation in (*always, *sometimes)},
            "required": list(always),
        }
        record["properties"]["links"] = {"$ref": f"#/components/schemas/{name}"}
