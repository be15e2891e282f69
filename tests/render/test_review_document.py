"""The review document (bot/render/review.py): every section from the incident, its timeline and its links, the
times against the band's window, and outside text kept to one Markdown line."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.adapters.pagerduty.webhook import read_event
from bot.domain.coordination import RoleHolder, StatusUpdate
from bot.domain.events import Person
from bot.domain.exposure import IncidentExposure
from bot.domain.follow_ups import FollowUp
from bot.domain.incident import Incident, Status
from bot.domain.timeline import TimelineEntry, describe
from bot.domain.toolkit import ROLE_KIND, UPDATE_KIND
from bot.render.review import ReviewLinks, responders, review_filename, review_markdown
from tests.helpers import incident_event

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


def test_roles_and_status_updates_come_from_the_incident_each_update_once() -> None:
    slack_update = StatusUpdate("u2", T0 + timedelta(minutes=20), "Erin Walsh", "Rolled back",
                                impact="Card payments | *failing*", next_due=T0 + timedelta(minutes=50),
                                in_pagerduty=True)
    pagerduty_update = StatusUpdate("e12", T0 + timedelta(minutes=12), "Ben Okafor", "Looking at the deploy",
                                    source="pagerduty", in_pagerduty=True)
    incident = replace(resolved(30), roles=(RoleHolder("commander", "U2", "Erin Walsh"),
                                            RoleHolder("communications", "U3", "Chloe Martin")),
                       status_updates=(pagerduty_update, slack_update))
    timeline = [*TIMELINE,
                entry(10, ROLE_KIND, "Erin Walsh took over as commander from Ben Okafor", "Ben Okafor"),
                entry(12, "status_update_published", "Status update by Ben Okafor: Looking at the deploy",
                      "Ben Okafor"),
                TimelineEntry("u2", "PINC1", slack_update.at, UPDATE_KIND, "Erin Walsh",
                              "Status update by Erin Walsh: Rolled back")]
    text = review_markdown(incident, timeline, exposure=HIGH, links=LINKS, drafted_at=T0 + timedelta(hours=1))
    people = text.split("## Responders and roles")[1].split("## Timeline")[0]
    assert "- **Commander**: Erin Walsh" in people and "- **Communications**: Chloe Martin" in people
    assert "- 2026-11-27 10:10:00Z — Erin Walsh took over as commander from Ben Okafor" in people
    assert "- Responders: Ben Okafor, Erin Walsh, Chloe Martin" in people
    updates = text.split("## Status updates")[1].split("## Follow-ups")[0].strip().splitlines()
    assert updates == [
        "- 2026-11-27 10:08:00Z — Status update by Erin Walsh: Customers can pay again",  # older than the kept ones
        "- 2026-11-27 10:12:00Z — Ben Okafor (in PagerDuty): Looking at the deploy",
        "- 2026-11-27 10:20:00Z — Erin Walsh: Rolled back · Impact: Card payments \\| \\*failing\\* · "
        "Next update by 10:50 UTC."]


def test_nobody_holding_a_role_is_said() -> None:
    text = review_markdown(resolved(30), TIMELINE, exposure=HIGH, links=LINKS, drafted_at=T0)
    assert "- Roles: nobody held one" in text


def test_the_service_that_raised_the_incident_is_no_responder() -> None:
    """PagerDuty names the service as the agent of a monitoring alert's trigger (and of an auto-resolve): the timeline
    keeps it as the entry's actor, but a service is not someone who responded."""
    timeline = [entry(0, "triggered", "Triggered on Checkout, assigned to Ben Okafor", "Checkout"),
                entry(3, "acknowledged", "Acknowledged by Ben Okafor", "Ben Okafor"),
                entry(30, "resolved", "Resolved by Ben Okafor", "Ben Okafor")]
    text = review_markdown(resolved(30), timeline, exposure=HIGH, links=LINKS, drafted_at=T0)
    assert "- Responders: Ben Okafor\n" in text


def test_a_service_that_resolved_its_own_incident_is_no_responder() -> None:
    timeline = [entry(0, "triggered", "Triggered on Checkout", "Checkout"),
                entry(3, "acknowledged", "Acknowledged by Ben Okafor", "Ben Okafor"),
                entry(30, "resolved", "Resolved by Checkout", "Checkout")]
    assert responders(resolved(30), timeline) == ["Ben Okafor"]


def test_an_agent_that_is_no_person_is_no_responder_whatever_its_name() -> None:
    """PagerDuty says what kind of agent made a change (`event.agent.type`): a monitoring integration that resolved
    the incident by itself, or a service other than the incident's own (it was moved), is named in the timeline's
    text but is no responder. Before session 20 only the incident's own service, by name, was left out: the close notes
    listed "Datadog" among the people who responded."""
    def event(event_type: str, minute: int, agent_type: str, name: str) -> TimelineEntry:
        body = incident_event(event_type, occurred_at=f"2026-11-27T10:{minute:02d}:00.000Z")
        body["event"]["agent"] = {"id": f"P{minute:06d}", "summary": name, "type": agent_type}
        line = describe(read_event(body))
        assert line is not None
        return line
    timeline = [event("incident.triggered", 0, "service_reference", "Payments (old name)"),
                event("incident.acknowledged", 3, "user_reference", "Ben Okafor"),
                event("incident.resolved", 30, "integration_reference", "Datadog")]
    assert [line.text for line in timeline][1:] == ["Acknowledged by Ben Okafor", "Resolved by Datadog"]
    assert responders(resolved(30), timeline) == ["Ben Okafor"]
