"""How both stores write a time into an indexed text column (`utc_iso`): ISO 8601 in UTC. Its own module, standard
library only, so that the report's SQL (report_sql.py) can use it without loading the incident codec and the domain
behind it; codec.py re-exports it."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(when: datetime | None) -> str | None:
    """A time as the indexed columns hold it: ISO 8601 in UTC, always `+00:00`, so that text order is time order
    (the JSON keeps each time's own offset). A naive time is taken as UTC."""
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
