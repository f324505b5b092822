"""Rows to wire records: camelCase keys, nested LOAs and action values, HAL links.

This is the hot path of every list page (thousands of records), so a row is zipped with
precomputed keys and only the few columns that change shape are converted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic.alias_generators import to_camel

from producersync.service.api.resources import BY_KEY, Resource

__all__ = ["Serializer", "Wire"]

Wire = dict[str, Any]

# Store-only columns: bookkeeping the wire records do not carry.
_HIDDEN = frozenset({"last_nipr_entity_update"})


def _split(value: str | None) -> list[str]:
    return [v for v in value.split(",") if v] if value else []


def _categories(value: str | None) -> dict[str, list[str]]:
    return {"categories": _split(value)}


_CONVERTED: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "loa_categories": ("loaMapping", _categories),
    "agent_types": ("agentTypes", _split),
}


@dataclass(frozen=True)
class _Plan:
    keys: tuple[str, ...]
    converted: tuple[tuple[int, str, Callable[[Any], Any]], ...]
    hidden: tuple[str, ...]
    id_index: int
    npn_index: int
    parent_index: int | None  # license_id / regulatory_action_id, for the parent link


def _plan(resource: Resource) -> _Plan:
    names = [str(c.name) for c in resource.table.c]  # quoted_name is no dict key for orjson
    keys, converted = [], []
    for index, name in enumerate(names):
        if name in _CONVERTED:
            key, convert = _CONVERTED[name]
            converted.append((index, key, convert))
        else:
            key = str(to_camel(name))
        keys.append(key)
    parent = next(
        (names.index(n) for n in ("license_id", "regulatory_action_id") if n in names), None
    )
    return _Plan(
        keys=tuple(keys),
        converted=tuple(converted),
        hidden=tuple(str(to_camel(n)) for n in names if n in _HIDDEN),
        id_index=names.index("id"),
        npn_index=names.index("npn"),
        parent_index=parent,
    )


_PLANS = {key: _plan(resource) for key, resource in BY_KEY.items()}
_ENTITY_CHILDREN = tuple(r.key for r in BY_KEY.values() if r.per_npn)


class Serializer:
    """Turns rows of every resource into wire dicts, links rooted at ``base``."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def records(self, resource: Resource, rows: Sequence[sa.Row[Any]]) -> list[Wire]:
        plan = _PLANS[resource.key]
        link = self._linker(resource.key)
        wires = []
        for row in rows:
            wire = dict(zip(plan.keys, row, strict=True))
            for index, key, convert in plan.converted:
                wire[key] = convert(row[index])
            for key in plan.hidden:
                del wire[key]
            parent = row[plan.parent_index] if plan.parent_index is not None else None
            wire["links"] = link(row[plan.id_index], row[plan.npn_index], parent)
            wires.append(wire)
        return wires

    def entity_links(self, wire: Wire, resident_license_id: int | None) -> None:
        if resident_license_id is not None:
            wire["links"]["residentLicense"] = {
                "href": f"{self.base}/v1/licenses/{resident_license_id}"
            }

    def _linker(self, key: str) -> Callable[[int, str, Any], Wire]:
        base = self.base
        if key == "entities":

            def entity(rid: int, npn: str, _: Any) -> Wire:
                home = f"{base}/v2/entities/{npn}"
                links: Wire = {"self": {"href": home}}
                for child in _ENTITY_CHILDREN:
                    links[child] = {"href": f"{home}/{child}"}
                return links

            return entity
        child = {
            "licenses": ("licenseLoas", "/v2/licenses/{}/licenseLoas"),
            "regulatoryActions": (
                "regulatoryActionValues",
                "/v2/regulatoryActions/{}/regulatoryActionValues",
            ),
        }.get(key)
        parent = {
            "licenseLoas": ("license", "/v1/licenses/{}"),
            "regulatoryActionValues": ("regulatoryAction", "/v1/regulatoryActions/{}"),
        }.get(key)

        # Records of one page share their NPN's entity link and their parent's link: one
        # dict each, serialised as often as referenced, allocated once.
        entity_links: dict[str, Wire] = {}
        parent_links: dict[Any, Wire] = {}

        def record(rid: int, npn: str, parent_id: Any) -> Wire:
            entity = entity_links.get(npn)
            if entity is None:
                entity = entity_links[npn] = {"href": f"{base}/v2/entities/{npn}"}
            links: Wire = {"self": {"href": f"{base}/v1/{key}/{rid}"}, "entity": entity}
            if child is not None:
                links[child[0]] = {"href": base + child[1].format(rid)}
            if parent is not None:
                link = parent_links.get(parent_id)
                if link is None:
                    link = parent_links[parent_id] = {"href": base + parent[1].format(parent_id)}
                links[parent[0]] = link
            return links

        return record
