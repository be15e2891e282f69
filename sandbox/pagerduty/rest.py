"""A REST call as the PagerDuty emulator's endpoints see it, and reading one the way PagerDuty does: classic offset
pagination, the `{"incident": {...}}` body wrapper, references by id, and `since`/`until` ranges and time fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from multidict import CIMultiDictProxy, MultiMapping

from sandbox.pagerduty.basics import Json, invalid
from sandbox.pagerduty.schedules import MAX_RANGE, parse_time

_DEFAULT_PAGE, _MAX_PAGE = 25, 100


@dataclass
class Call:
    """One REST request, read and routed."""

    method: str
    path: str
    params: dict[str, str]
    query: MultiMapping[str]
    headers: CIMultiDictProxy[str]
    body: Json | None


# A REST endpoint: the HTTP status and the JSON it answers, or PagerDutyError.
Handler = Callable[[Call], tuple[int, Json]]


def page(call: Call, key: str, items: list[Json]) -> Json:
    """Classic offset pagination, with `more` and (only when asked for) `total`, as PagerDuty answers."""
    try:
        limit = min(max(int(call.query.get("limit", _DEFAULT_PAGE)), 1), _MAX_PAGE)
        offset = max(int(call.query.get("offset", 0)), 0)
    except ValueError:
        raise invalid("limit and offset must be integers") from None
    total = len(items) if call.query.get("total", "").lower() == "true" else None
    return {key: items[offset:offset + limit], "limit": limit, "offset": offset,
            "more": offset + limit < len(items), "total": total}


def wrapped(call: Call, key: str) -> Json:
    inner = (call.body or {}).get(key)
    if not isinstance(inner, dict):
        raise invalid(f"The request body must be {{\"{key}\": {{...}}}}")
    return inner


def time_range(call: Call, *, required: bool) -> tuple[datetime | None, datetime | None]:
    """`since`/`until` as PagerDuty reads them: both or neither (unless required), until not before since, and at
    most 90 days apart."""
    raw_since, raw_until = call.query.get("since"), call.query.get("until")
    if raw_since is None and raw_until is None and not required:
        return None, None
    if raw_since is None or raw_until is None:
        raise invalid("since and until must both be given")
    try:
        since, until = parse_time(raw_since), parse_time(raw_until)
    except ValueError as error:
        raise invalid(f"since/until: {error}") from None
    if until < since:
        raise invalid("The until time cannot be before the since time")
    if until - since > MAX_RANGE:
        raise invalid("The range between since and until cannot exceed 90 days")
    return since, until


def time_field(item: object, key: str) -> datetime:
    value = item.get(key) if isinstance(item, dict) else None
    if not isinstance(value, str):
        raise invalid(f"{key} is required")
    try:
        return parse_time(value)
    except ValueError as error:
        raise invalid(f"{key}: {error}") from None


def ref_id(value: object) -> str | None:
    return str(value["id"]) if isinstance(value, dict) and value.get("id") is not None else None
