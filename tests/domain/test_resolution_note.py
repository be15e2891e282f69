"""Which line gives an incident's resolution (the ticket's close notes, the review): a PagerDuty note beginning
"Resolution: ", never another line that only holds those words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.timeline import TimelineEntry, resolution

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def line(kind: str, text: str, actor: str | None = "Asha Patel") -> TimelineEntry:
    return TimelineEntry(id=f"E{len(text)}", incident_id="Q1", occurred_at=T0, kind=kind, actor=actor, text=text)


@pytest.mark.parametrize(("timeline", "expected"), [
    ([line("annotated", "Note by Asha Patel: Resolution: restarted the pricing cache")], "restarted the pricing cache"),
    # A service's or an integration's note (no person: no actor), and a name holding ": ".
    ([line("annotated", "Note by Nagios: Resolution: disk freed", actor=None)], "disk freed"),
    ([line("annotated", "Note by Ann: Ops: Resolution: failed over", actor="Ann: Ops")], "failed over"),
    # The latest PagerDuty resolution note wins; a desk's work note, a Slack line, a status update never do.
    ([line("annotated", "Note by Asha Patel: Resolution: restarted the pricing cache"),
      line("servicenow_note", "ServiceNow INC0010001, service.desk — work note: Resolution: caller rebooted"),
      line("key_message", "Resolution: it was DNS"),
      line("status_update_published", "Status update by Asha Patel: Resolution: pending")],
     "restarted the pricing cache"),
    # A note that only mentions the words is no resolution note.
    ([line("annotated", "Note by Asha Patel: we will write the Resolution: later")], None),
    ([], None),
])
def test_the_resolution_is_the_latest_pagerduty_resolution_note(timeline: list[TimelineEntry],
                                                                expected: str | None) -> None:
    assert resolution(timeline) == expected
