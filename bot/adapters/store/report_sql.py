"""The SQL of a report's aggregates (the IncidentHistory port's `report_aggregates`), written once for both stores:
each store gives its `Dialect` (placeholders, how a stored UTC time becomes whole microseconds, the incident JSON's
service name) and runs the statements built here.

Everything is read from the incident's indexed columns (migrations 14 and 15, one covering index), whose times are
ISO 8601 in UTC, so a period is a text range on `triggered_at` and a month is its first seven characters. Durations
are whole microseconds (`tta_us`, `ttr_us`), exact as `timedelta` holds them; the report divides them once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.adapters.store.utc_text import utc_iso
from bot.ports.report_aggregates import ReportQuery

# Rows handed to the tally at a time: memory stays flat however many incidents there are.
BATCH = 5_000


@dataclass(frozen=True)
class Dialect:
    param: str                        # the placeholder: "?" or "%s"
    flag: Callable[[str], str]        # a condition → 0 or 1
    total: Callable[[str], str]       # the integer sum of an expression (0 over no rows)
    service_name: str                 # the incident JSON's service name


SQLITE = Dialect("?", lambda condition: f"({condition})", lambda expression: f"coalesce(sum({expression}), 0)",
                 "json_extract(data, '$.service_name')")
POSTGRES = Dialect("%s", lambda condition: f"({condition})::int",
                   lambda expression: f"coalesce(sum({expression}), 0)::bigint", "(data::jsonb ->> 'service_name')")

Statement = tuple[str, list[object]]

# The services with incidents (to tell the listed from the others before reading): one index seek per service (a
# loose index scan; both stores' DISTINCT would read every incident's index entry).
SERVICES = ("WITH RECURSIVE seen(id) AS (SELECT min(service_id) FROM incidents UNION ALL"
            " SELECT (SELECT min(service_id) FROM incidents WHERE service_id > seen.id) FROM seen"
            " WHERE seen.id IS NOT NULL)"
            " SELECT id FROM seen WHERE id IS NOT NULL")


def _range(d: Dialect, query: ReportQuery, column: str) -> Statement:
    conditions: list[str] = ["TRUE"]
    params: list[object] = []
    if query.start is not None:
        conditions.append(f"{column} >= {d.param}")
        params.append(utc_iso(query.start))
    if query.end is not None:
        conditions.append(f"{column} < {d.param}")
        params.append(utc_iso(query.end))
    return " AND ".join(conditions), params


def _segment(d: Dialect, query: ReportQuery, column: str) -> Statement:
    if not query.cuts:
        return "0", []
    return " + ".join(d.flag(f"{column} >= {d.param}") for _ in query.cuts), [utc_iso(c) for c in query.cuts]


def _incidents(d: Dialect, query: ReportQuery, unlisted: Sequence[str], select: str, where: str = "",
               group: bool = False) -> Statement:
    """`SELECT <cell key>, <select> FROM incidents` over the period, as a UNION ALL: the listed services' incidents
    without a name (the covering index alone answers), and the `unlisted` services' (those with incidents that the
    catalogue does not list) with the name from their JSON."""
    segment, segment_params = _segment(d, query, "triggered_at")
    period, period_params = _range(d, query, "triggered_at")
    parts: list[str] = []
    params: list[object] = []
    for name, services in (("NULL", sorted(query.listed)), (d.service_name, sorted(unlisted))):
        if not services:
            continue
        parts.append(f"SELECT service_id, {name} AS service_name, substr(triggered_at, 1, 7) AS month,"
                     f" {segment} AS segment, {select} FROM incidents WHERE service_id IN"
                     f" ({', '.join(d.param for _ in services)}) AND {period}{where}"
                     + (" GROUP BY 1, 2, 3, 4" if group else ""))
        params += [*segment_params, *services, *period_params]
    if not parts:  # no incidents at all: a statement that reads none
        return (f"SELECT NULL, NULL, NULL, NULL, {select} FROM incidents WHERE FALSE"
                + (" GROUP BY 1, 2, 3, 4" if group else ""), [])
    return " UNION ALL ".join(parts), params


def incident_cells(d: Dialect, query: ReportQuery, unlisted: Sequence[str]) -> Statement:
    """Per cell: incidents, then count and total microseconds of TTA, then of TTR."""
    return _incidents(d, query, unlisted, f"count(*), count(tta_us), {d.total('tta_us')}, count(ttr_us),"
                      f" {d.total('ttr_us')}", group=True)


def durations(d: Dialect, query: ReportQuery, unlisted: Sequence[str], measure: str) -> Statement:
    """Each incident's TTA ("tta") or TTR ("ttr") in microseconds beside its cell key, shortest first."""
    column = {"tta": "tta_us", "ttr": "ttr_us"}[measure]
    sql, params = _incidents(d, query, unlisted, column, where=f" AND {column} IS NOT NULL")
    return f"{sql} ORDER BY 5", params


def deploy_cells(d: Dialect, query: ReportQuery) -> Statement:
    """Per service, UTC month and segment: how many deploys."""
    segment, segment_params = _segment(d, query, "occurred_at")
    period, period_params = _range(d, query, "occurred_at")
    return (f"SELECT service_id, substr(occurred_at, 1, 7), {segment}, count(*) FROM deploys WHERE {period}"
            " GROUP BY 1, 2, 3", [*segment_params, *period_params])
