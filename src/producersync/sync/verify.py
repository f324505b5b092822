"""Is the mirror what the API serves? Every record of the monitored population, field by
field, nested children against their own tables: the proof behind ``sync verify`` and
the demo.

Reading the whole population costs one paged pass over each list resource (``npns=`` in
bulk, deleted records included), the same requests a backfill makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from producersync.client import Client
from producersync.client.resources.records import SPECS
from producersync.sync.mirror import RESOURCES, active_npns
from producersync.sync.mirror.queries import stored_npns, stored_records
from producersync.sync.mirror.tables import CHILDREN

__all__ = ["Comparison", "ResourceComparison", "compare"]

_ATTRIBUTE = {spec.key: name for name, spec in SPECS.items()}
_NOT_COMPARED = frozenset({"links", "_links"}) | {key for key, _, _ in CHILDREN.values()}
_SHOWN = 5  # differences listed per resource


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
            nested = {c["id"]: c for record in served.values() for c in record.get(key) or []}
            label = f"{child_resource} (nested)"
            resources.append(
                _compare(label, nested, conn, subscribed, purged, resource=child_resource)
            )
    return Comparison(len(npns), population[:_SHOWN], resources)


def _served(client: Client, resource: str, npns: Sequence[str]) -> dict[int, dict[str, Any]]:
    if not npns:
        return {}
    records = getattr(client, _ATTRIBUTE[resource]).list(npns=npns, include_deleted=True)
    return {r.id: r.model_dump(mode="json", by_alias=True) for r in records}


def _compare(
    label: str,
    served: dict[int, dict[str, Any]],
    conn: sa.Connection,
    subscribed: set[str],
    purged: bool,
    resource: str | None = None,
) -> ResourceComparison:
    """A top-level resource's records of the ``subscribed`` NPNs must all be served;
    nested children are checked against what their parents carry. ``purged``: a record
    of an NPN not subscribed must not be held either."""
    stored = stored_records(conn, resource or label)
    found, equal = [], 0
    for record_id, record in served.items():
        mirrored = stored.get(record_id)
        if mirrored is None:
            found.append(f"{record_id}: not in the mirror")
            continue
        changed = sorted(
            k for k, v in record.items() if k not in _NOT_COMPARED and mirrored.get(k) != v
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
    return ResourceComparison(label, len(served), equal, found[:_SHOWN])
