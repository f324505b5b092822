"""Is the mirror what the API serves? Every record of the monitored population, field by
field, nested children against their own tables: the proof behind ``sync verify`` and
the demo.

Reading the whole population costs one paged pass over each list resource (``npns=`` in
bulk, deleted records included), the same requests a backfill makes. The records are
compared as the API served them, JSON against the JSON the mirror stored, value and type
(``same_json``, as the mirror's own change detection): the SDK's models read an
``active`` of 1 as true, and ``!=`` took 1 for true and 1.0 for 1, so a mirror that held
another type than the API's was said to be equal. What the API served is compared as
the mirror stores it (``as_stored``): on PostgreSQL, a NUL character as U+FFFD, which is
all it can hold, and a record holding one is not said to differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from producersync.client import Client
from producersync.client.pagination import parse_raw_page
from producersync.model.records import nested_list
from producersync.sync.mirror import RESOURCES, active_npns
from producersync.sync.mirror.queries import stored_npns, stored_records
from producersync.sync.mirror.records import as_stored, same_json
from producersync.sync.mirror.tables import CHILDREN
from producersync.sync.pull import PageResult, Stream, pull_stream, streams

__all__ = ["Comparison", "ResourceComparison", "compare"]

_NOT_COMPARED = frozenset({"links", "_links"}) | {key for key, _, _ in CHILDREN.values()}
_SHOWN = 5  # differences listed per resource
_PAGE_SIZE = 1000  # the API's largest


@dataclass(frozen=True)
class ResourceComparison:
    resource: str
    served: int  # records the API serves for the population (nested children included)
    equal: int  # of those, found equal in the mirror
    differences: list[str]  # the first few, in words


@dataclass(frozen=True)
class Comparison:
    population: int
    population_differences: list[str]
    resources: list[ResourceComparison]

    @property
    def equal(self) -> bool:
        return not self.population_differences and not any(r.differences for r in self.resources)


def compare(client: Client, conn: sa.Connection, *, purged: bool = False) -> Comparison:
    """The account's population as the API lists it, against the mirror's. ``purged``:
    the mirror purges deactivated NPNs (``PURGE_DEACTIVATED``), so it holds no record
    of an NPN not subscribed either, in any table."""
    npns = sorted(s.npn for s in client.subscriptions.list())
    mirrored_npns = set(active_npns(conn))
    population = [f"{n}: active in the mirror, not subscribed" for n in mirrored_npns - set(npns)]
    population += [f"{n}: subscribed, not active in the mirror" for n in set(npns) - mirrored_npns]
    resources = []
    subscribed = set(npns)
    for resource in RESOURCES:
        served = _served(client, resource, npns)
        resources.append(_compare(resource, served, conn, subscribed, purged))
        child = CHILDREN.get(resource)
        if child is not None:
            key, child_resource, _ = child
            nested = [
                c
                for record in served
                if isinstance(record, dict)
                for c in _list(nested_list(record.get(key), key))
            ]
            label = f"{child_resource} (nested)"
            resources.append(
                _compare(label, nested, conn, subscribed, purged, resource=child_resource)
            )
    return Comparison(len(npns), population[:_SHOWN], resources)


def _served(client: Client, resource: str, npns: Sequence[str]) -> list[Any]:
    """The records of ``npns`` the API serves, as JSON, as the sync reads them."""
    served: list[Any] = []

    def page(stream: Stream, path: str | None, run_id: int | None) -> PageResult:
        params = None if path else {**dict(stream.params), "size": str(_PAGE_SIZE)}
        at = path or f"/v2/{resource}"
        body = client.request("GET", at, params=params, raw=True)
        records, next_path = parse_raw_page(body, resource, _PAGE_SIZE, at=at)
        served.extend(records)
        return PageResult(next_path, len(records))

    for stream in streams(npns=npns):
        if stream.resource == resource:
            pull_stream(stream, page, None)
    return served


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _compare(
    label: str,
    records: list[Any],
    conn: sa.Connection,
    subscribed: set[str],
    purged: bool,
    resource: str | None = None,
) -> ResourceComparison:
    """A top-level resource's records of the ``subscribed`` NPNs must all be served;
    nested children are checked against what their parents carry. ``purged``: a record
    of an NPN not subscribed must not be held either. A record served without an integer
    id has none to be stored under: it is not in the mirror."""
    stored = stored_records(conn, resource or label)
    served: dict[int, dict[str, Any]] = {}
    found, equal = [], 0
    for record in records:
        if isinstance(record, dict) and type(record.get("id")) is int:
            served[record["id"]] = as_stored(conn, record)
        else:
            found.append(f"{record!r:.60}: no integer id, not in the mirror")
    for record_id, record in served.items():
        mirrored = stored.get(record_id)
        if mirrored is None:
            found.append(f"{record_id}: not in the mirror")
            continue
        changed = sorted(
            k
            for k, v in record.items()
            if k not in _NOT_COMPARED and not same_json(v, mirrored.get(k))
        )
        if changed:
            found.append(f"{record_id}: {', '.join(changed)} differ")
        else:
            equal += 1
    npns = stored_npns(conn, resource or label)
    for record_id in sorted(set(stored).difference(served)):
        npn = npns.get(record_id)
        if npn in subscribed and resource is None:
            found.append(f"{record_id}: in the mirror, not served")
        elif npn not in subscribed and purged:
            found.append(f"{record_id}: in the mirror, of {npn}, not subscribed: to be purged")
    return ResourceComparison(label, len(records), equal, found[:_SHOWN])
