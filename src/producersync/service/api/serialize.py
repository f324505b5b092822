"""Rows to wire records: camelCase keys, nested LOAs and action values, HAL links."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic.alias_generators import to_camel

from producersync.service.api.resources import BY_KEY, Resource

__all__ = ["Serializer"]

Wire = dict[str, Any]

# Store-only columns: bookkeeping the wire records do not carry.
_HIDDEN = frozenset({"last_nipr_entity_update"})


def _split(value: str | None) -> list[str]:
    return [v for v in value.split(",") if v] if value else []


def _plan(resource: Resource) -> list[tuple[str, str, Callable[[Any], Any] | None]]:
    plan: list[tuple[str, str, Callable[[Any], Any] | None]] = []
    for column in resource.table.c:
        name = str(column.name)  # quoted_name, a str subclass, is no dict key for orjson
        if name in _HIDDEN:
            continue
        if name == "loa_categories":
            plan.append((name, "loaMapping", lambda v: {"categories": _split(v)}))
        elif name == "agent_types":
            plan.append((name, "agentTypes", _split))
        else:
            plan.append((name, str(to_camel(name)), None))
    return plan


def _links(key: str, record: Mapping[Any, Any], base: str) -> Wire:
    rid, npn = record["id"], record.get("npn")
    entity = f"{base}/v2/entities/{npn}"
    links: Wire = {"self": {"href": f"{base}/v1/{key}/{rid}"}}
    if key == "entities":
        links = {"self": {"href": entity}}
        for child in ("addresses", "contactInfos", "appointments", "licenses"):
            links[child] = {"href": f"{entity}/{child}"}
    elif key == "licenses":
        links["licenseLoas"] = {"href": f"{base}/v2/licenses/{rid}/licenseLoas"}
    elif key == "licenseLoas":
        links["license"] = {"href": f"{base}/v1/licenses/{record['license_id']}"}
    elif key == "regulatoryActions":
        links["regulatoryActionValues"] = {
            "href": f"{base}/v2/regulatoryActions/{rid}/regulatoryActionValues"
        }
    elif key == "regulatoryActionValues":
        links["regulatoryAction"] = {
            "href": f"{base}/v1/regulatoryActions/{record['regulatory_action_id']}"
        }
    if key != "entities" and npn is not None:
        links["entity"] = {"href": entity}
    return links


class Serializer:
    """Turns rows of every resource into wire dicts, links rooted at ``base``."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def record(self, resource: Resource, row: Mapping[Any, Any]) -> Wire:
        wire = {
            key: (convert(row[name]) if convert else row[name])
            for name, key, convert in _PLANS[resource.key]
        }
        wire["links"] = _links(resource.key, row, self.base)
        return wire

    def records(self, resource: Resource, rows: Sequence[Mapping[Any, Any]]) -> list[Wire]:
        return [self.record(resource, row) for row in rows]

    def entity_links(self, wire: Wire, resident_license_id: int | None) -> None:
        if resident_license_id is not None:
            wire["links"]["residentLicense"] = {
                "href": f"{self.base}/v1/licenses/{resident_license_id}"
            }


_PLANS = {key: _plan(resource) for key, resource in BY_KEY.items()}
