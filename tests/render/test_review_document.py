"""The review document (bot/render/review.py): every section from the incident, its timeline and its links, the
times against the band's window, and outside text kept to one Markdown line."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain.events import Person
from bot.domain.exposure import IncidentExposure
from bot.domain.follow_ups import FollowUp
from bot.domain.incident import Incident, Status
from bot.domain.timeline import TimelineEntry
from bot.render.review import ReviewLinks, review_filename, review_markdown

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
HIGH = IncidentExposure("£", 750_000, 45, "High", above_highest=False)
LINKS = ReviewLinks("https://pd.example.com/incidents/PINC1", ("INC0010001", "https://sn.example.com/inc"),
                    ("inc-12-checkout", "https://slack.com/app_redirect?channel=C1"))


def resolved(minutes: float) -> Incident:
    return Incident(id="PINC1", number=12, title="Checkout returns 500s", status=Status.RESOLVED, urgency="high",
                    priority="P1", service_id="PCHECKO", service_name="Checkout", escalation_policy_id=None,
                    escalation_policy_name=None, html_url=LINKS.pagerduty, assignees=(Person("P1", "Ben Okafor"),),
                    triggered_at=T0, acknowledged_at=T0 + timedelta(minutes=3),
                    resolved_at=T0 + timedelta(minutes=minutes), state_as_of=T0, dedicated_channel=True,
                    follow_ups=(FollowUp(1, "Alert on 5xx rate", "Asha Patel", T0, "U1", "Chloe Martin"),))


def entry(minute: int, kind: str, text: str, actor: str | None = None) -> TimelineEntry:
    return TimelineEntry(f"e{minute}", "PINC1", T0 + timedelta(minutes=minute), kind, actor, text)


TIMELINE = [entry(0, "triggered", "Triggered on Checkout"), entry(3, "acknowledged", "Acknowledged by Ben Okafor",
                                                                  "Ben Okafor"),
            entry(5, "key_message", "📌 Dev Sharma: error rate | back *down*", "Dev Sharma"),
            entry(8, "status_update_published", "Status update by Erin Walsh: Customers can pay again", "Erin Walsh"),
            entry(30, "annotated", "Note by Ben Okafor: Resolution: Rolled back\nto 4.2.0", "Ben Okafor")]


def test_every_section_is_written_from_the_incident() -> None:
    text = review_markdown(resolved(30), TIMELINE, exposure=HIGH, links=LINKS, drafted_at=T0 + timedelta(hours=1))
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections == ["## Summary", "## Service and exposure band", "## Impact", "## Time to acknowledge and restore",
                        "## Responders and roles", "## Timeline", "## Key messages", "## Status updates",
                        "## Follow-ups", "## Links"]
    assert "- Resolution: Rolled back to 4.2.0" in text
    assert "- Exposure band: High — up to £750K within 45 min" in text
    assert "£500K" in text  # realised: £750K times 30 min over 45 min
    assert "| Time to acknowledge (TTA) | 3m 00s | within it (7% of the window) |" in text
    assert "| Time to restore (TTR) | 30m 00s | within it (67% of the window) |" in text
    assert "- Responders: Ben Okafor, Dev Sharma" not in text  # the pinned message's author did not act
    assert "- Responders: Ben Okafor, Erin Walsh" in text
    assert "- 2026-11-27 10:05:00Z — 📌 Dev Sharma: error rate \\| back \\*down\\*" in text
    assert "- [ ] #1 Alert on 5xx rate — owner: Chloe Martin (recorded by Asha Patel" in text
    assert "Customers can pay again" in text.split("## Status updates")[1].split("## Follow-ups")[0]
    for link in ("https://pd.example.com/incidents/PINC1", "INC0010001 — https://sn.example.com/inc",
                 "#inc-12-checkout — https://slack.com/app_redirect?channel=C1"):
        assert link in text


def test_a_restore_past_the_window_says_by_how_much() -> None:
    text = review_markdown(resolved(60), TIMELINE, exposure=HIGH, links=LINKS, drafted_at=T0)
    assert "| Time to restore (TTR) | 1h 00m | over it by 15m 00s |" in text


def test_an_open_incident_without_exposure_or_links_is_the_story_so_far() -> None:
    incident = replace(resolved(30), status=Status.ACKNOWLEDGED, resolved_at=None, follow_ups=())
    text = review_markdown(incident, [], exposure=None, links=ReviewLinks("https://pd.example.com/x"),
                           drafted_at=T0)
    assert "still open" in text and "not known (no exposure declared" in text
    assert "- (nothing recorded)" in text and "- (none yet:" in text and "ServiceNow:" not in text
    assert review_filename(incident, T0) == "review-incident-12-20261127T100000Z.md"
