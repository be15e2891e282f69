"""The handover post's wording (bot/render/handover.py): headline, sections, figures, mentions and links, and
escaping of everything that came from outside. The report's data is built by the domain, as in production."""

from __future__ import annotations

import pytest

from bot.domain.handover import Note, handover_report
from bot.render.handover import handover_text
from tests.domain.handover_shift import END, INCIDENTS, LONDON, START, WORKING, incident


def test_handover_text() -> None:
    text = handover_text(handover_report("Basket", START, END, ["Alice"], ["Bob", "Carol"], INCIDENTS,
                                         [Note("Deploy freeze from 18:00", "Alice")], ["2 dead effects"], WORKING,
                                         LONDON))
    assert text.splitlines()[:2] == [
        "*Handover: Basket — Alice → Bob, Carol*",
        "Shift Fri 27 Nov 09:00 → Fri 27 Nov 17:30 (Europe/London)",
    ]
    assert "*Open now (3)*" in text
    assert ("• <https://acme.pagerduty.com/incidents/P1|#1 Checkout slow> — Basket API, high urgency, "
            "acknowledged, open 19h 30m") in text
    assert "#3 Checkout slow> — Basket API, high urgency, unacknowledged, open 30m" in text
    assert "*During the shift (3)*" in text
    assert "#2 Checkout slow> — Basket API, acknowledged in 4m, resolved in 1h 02m" in text
    assert "#3 Checkout slow> — Basket API, not acknowledged, still open" in text
    assert "*Pages out of hours (0)*\nnone" in text
    assert "*Notes (1)*\n• Deploy freeze from 18:00 — Alice" in text
    assert "*Pending (1)*\n• 2 dead effects" in text


@pytest.mark.parametrize(("outgoing", "incoming", "headline"), [
    ([], ["Bob"], "*Handover: Basket — nobody → Bob*"),
    (["Alice"], [], "*Handover: Basket — Alice → nobody*"),
    (None, None, "*Handover: Basket — (unknown: PagerDuty unreachable) → (unknown: PagerDuty unreachable)*"),
    (["Alice"], None, "*Handover: Basket — Alice → (unknown: PagerDuty unreachable)*"),
])
def test_names_who_hands_over(outgoing: list[str] | None, incoming: list[str] | None, headline: str) -> None:
    text = handover_text(handover_report("Basket", START, END, outgoing, incoming, [], [], [], None, LONDON))
    assert text.splitlines()[0] == headline
    assert "Pages out of hours" not in text
    assert text.count("\nnone") == 4


def test_escapes_slack_control_characters() -> None:
    hostile = incident(30, "2026-11-27T10:00", title="<!channel> a & b")
    text = handover_text(handover_report("Basket", START, END, ["<@U1>"], ["Bob"], [hostile],
                                         [Note("see <http://x|y>", "<!here>")], [], None, LONDON))
    assert "<!channel>" not in text and "<@U1>" not in text and "<http://x" not in text
    assert "#30 &lt;!channel&gt; a &amp; b" in text
    assert "see &lt;http://x|y&gt; — &lt;!here&gt;" in text


def test_mentions_the_engineers_and_links_the_incident_channels() -> None:
    report = handover_report("Basket", START, END, ["Alice"], ["Bob", "Carol"], INCIDENTS, [], [], WORKING, LONDON)
    text = handover_text(report, mentions={"Alice": "U1", "Carol": "U3"}, channels={"P1": "C1"})
    assert text.splitlines()[0] == "*Handover: Basket — <@U1> → Bob, <@U3>*"
    assert "acknowledged, open 19h 30m · <#C1>" in text
    assert "unacknowledged, open 30m\n" in text  # no channel known for #3: no link


@pytest.mark.parametrize(("late", "on_demand", "headline"), [
    (True, False, "*Handover: Basket — Alice → Bob* (late)"),
    (False, True, "*Handover so far: Basket — Alice → Bob*"),
])
def test_a_late_or_on_demand_post_says_so(late: bool, on_demand: bool, headline: str) -> None:
    report = handover_report("Basket", START, END, ["Alice"], ["Bob"], [], [], [], None, LONDON)
    assert handover_text(report, late=late, on_demand=on_demand).splitlines()[0] == headline
