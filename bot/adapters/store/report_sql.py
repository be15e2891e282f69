"""The SQL of a report's aggregates (the IncidentHistory port's `report_aggregates`), written once for both stores:
each store gives its `Dialect` (placeholders, how durations are gathered, the incident JSON's service name) and
runs the statements built here; `incident_cell` reads a row of `incident_cells` back.

Everything is read from the incident's indexed columns (migrations 14 and 15), whose times are ISO 8601 in UTC, so a
period is a text range on `triggered_at` and a month is its first seven characters. One pass over the index
`incidents_report_months` (service, month, trigger time, TTA, TTR) answers a report: per service and month, in the
index's order (no sort), how many incidents and every TTA and TTR among them, gathered as one JSON array per cell
(read back in C by `json.loads`), so no row per incident crosses into Python. Each segment of time (between the
query's cuts) is its own range of that index. Durations are whole microseconds (`tta_us`, `ttr_us`), exact as
`timedelta` holds them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from bot.adapters.store.utc_text import utc_iso
from bot.domain.report_totals import IncidentCell
from bot.ports.report_aggregates import ReportQuery

# The month of an incident's trigger time, written exactly as the index `incidents_report_months` holds it (an index
# on an expression serves only the same expression).
MONTH = "substr(triggered_at, 1, 7)"


@dataclass(frozen=True)
class Dialect:
    param: str                        # the placeholder: "?" or "%s"
    flag: Callable[[str], str]        # a condition → 0 or 1
    durations: Callable[[str], str]   # a column's non-NULL values in the group, as JSON array text
    service_name: str                 # the incident JSON's service name


SQLITE = Dialect("?", lambda condition: f"({condition})",
                 lambda column: f"json_group_array({column}) FILTER (WHERE {column} IS NOT NULL)",
                 "json_extract(data, '$.service_name')")
POSTGRES = Dialect("%s", lambda condition: f"({condition})::int",
                   lambda column: f"coalesce(json_agg({column}) FILTER (WHERE {column} IS NOT NULL), '[]')::text",
                   "(data::jsonb ->> 'service_name')")

Statement = tuple[str, list[object]]

# The services with incidents (to tell the listed from the others before reading): one index seek per service (a
# loose index scan; both stores' DISTINCT would read every incident's index entry).
SERVICES = ("WITH RECURSIVE seen(id) AS (SELECT min(service_id) FROM incidents UNION ALL"
            " SELECT (SELECT min(service_id) FROM incidents WHERE service_id > seen.id) FROM seen"
            " WHERE seen.id IS NOT NULL)"
            " SELECT id FROM seen WHERE id IS NOT NULL")


def segments(query: ReportQuery) -> list[tuple[int, str | None, str | None]]:
    """Each segment of the query's period that has any time in it: (its number — how many cuts are at or before its
    times —, its first time, the time it ends before), as the indexed columns write times (None: open)."""
    start, end = utc_iso(query.start), utc_iso(query.end)
    bounds = [None, *(utc_iso(cut) for cut in query.cuts), None]
    found = []
    for segment, (first, before) in enumerate(pairwise(bounds)):
        if start is not None and (first is None or start > first):
            first = start
        if end is not None and (before is None or end < before):
            before = end
        if first is None or before is None or first < before:
            found.append((segment, first, before))
    return found


def _range(d: Dialect, column: str, month: str | None, first: str | None, before: str | None) -> Statement:
    """Times in [first, before) on `column`; with `month`, the same bounds on its month too (redundant, but it lets
    the index be entered at the first month and left after the last)."""
    conditions: list[str] = []
    params: list[object] = []
    if first is not None:
        if month:
            conditions.append(f"{month} >= {d.param}")
            params.append(first[:7])
        conditions.append(f"{column} >= {d.param}")
        params.append(first)
    if before is not None:
        if month:
            conditions.append(f"{month} <= {d.param}")
            params.append(before[:7])
        conditions.append(f"{column} < {d.param}")
        params.append(before)
    return "".join(f" AND {c}" for c in conditions), params


def incident_cells(d: Dialect, query: ReportQuery, unlisted: Sequence[str]) -> Statement:
    """Per cell — service (with the name from the incident's JSON for the `unlisted` services: those with incidents
    that the catalogue does not list), UTC month, segment —: how many incidents, then every TTA and every TTR in
    microseconds, as JSON arrays. The listed services' cells come in the index's order, grouped as they are read."""
    parts: list[str] = []
    params: list[object] = []
    for segment, first, before in segments(query):
        period, period_params = _range(d, "triggered_at", MONTH, first, before)
        for name, services in (("NULL", sorted(query.listed)), (d.service_name, sorted(unlisted))):
            if not services:
                continue
            grouped = f"service_id, {MONTH}" if name == "NULL" else f"service_id, {name}, {MONTH}"
            parts.append(f"SELECT service_id, {name} AS service_name, {MONTH} AS month, {segment} AS segment,"
                         f" count(*), {d.durations('tta_us')}, {d.durations('ttr_us')} FROM incidents"
                         f" WHERE service_id IN ({', '.join(d.param for _ in services)}){period}"
                         f" GROUP BY {grouped}")
            params += [*services, *period_params]
    if not parts:  # nothing to read: a statement that reads none
        return "SELECT NULL, NULL, NULL, NULL, 0, '[]', '[]' FROM incidents WHERE FALSE", []
    return " UNION ALL ".join(parts), params


def incident_cell(row: Sequence[Any]) -> IncidentCell:
    """A row of `incident_cells` as the tally takes it (the durations' JSON arrays read in C)."""
    return IncidentCell((row[0], row[1], row[2], row[3]), row[4], json.loads(row[5]), json.loads(row[6]))


def _segment(d: Dialect, query: ReportQuery, column: str) -> Statement:
    if not query.cuts:
        return "0", []
    return " + ".join(d.flag(f"{column} >= {d.param}") for _ in query.cuts), [utc_iso(c) for c in query.cuts]


def deploy_cells(d: Dialect, query: ReportQuery) -> Statement:
    """Per service, UTC month and segment: how many deploys."""
    segment, segment_params = _segment(d, query, "occurred_at")
    period, period_params = _range(d, "occurred_at", None, utc_iso(query.start), utc_iso(query.end))
    return (f"SELECT service_id, substr(occurred_at, 1, 7), {segment}, count(*) FROM deploys WHERE TRUE{period}"
            " GROUP BY 1, 2, 3", [*segment_params, *period_params])
