"""The handover post's wording (bot/render/handover.py): headline, sections, figures, mentions and links, and
escaping of everything that came from outside. The report's data is built by the domain, as in production."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.domain.events import Person
from bot.domain.handover import Note, handover_report
from bot.domain.incident import Incident
from bot.render.handover import handover_text
from tests.domain.handover_shift import END, INCIDENTS, LONDON, START, WORKING, incident, on_call


def test_handover_text() -> None:
    text = handover_text(handover_report("Basket", START, END, on_call("Alice"), on_call("Bob", "Carol"), INCIDENTS,
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
    text = handover_text(handover_report("Basket", START, END, None if outgoing is None else on_call(*outgoing),
                                         None if incoming is None else on_call(*incoming), [], [], [], None, LONDON))
    assert text.splitlines()[0] == headline
    assert "Pages out of hours" not in text
    assert text.count("\nnone") == 4


def test_escapes_slack_control_characters() -> None:
    hostile = incident(30, "2026-11-27T10:00", title="<!channel> a & b")
    text = handover_text(handover_report("Basket", START, END, on_call("<@U1>"), on_call("Bob"), [hostile],
                                         [Note("see <http://x|y>", "<!here>")], [], None, LONDON))
    assert "<!channel>" not in text and "<@U1>" not in text and "<http://x" not in text
    assert "#30 &lt;!channel&gt; a &amp; b" in text
    assert "see &lt;http://x|y&gt; — &lt;!here&gt;" in text


def test_mentions_the_engineers_and_links_the_incident_channels() -> None:
    report = handover_report("Basket", START, END, on_call("Alice"), on_call("Bob", "Carol"), INCIDENTS, [], [],
                             WORKING, LONDON)
    text = handover_text(report, mentions={"PAlice": "U1", "PCarol": "U3"}, channels={"P1": "C1"})
    assert text.splitlines()[0] == "*Handover: Basket — <@U1> → Bob, <@U3>*"
    assert "acknowledged, open 19h 30m · <#C1>" in text
    assert "unacknowledged, open 30m\n" in text  # no channel known for #3: no link


@pytest.mark.parametrize(("late", "on_demand", "headline"), [
    (True, False, "*Handover: Basket — Alice → Bob* (late)"),
    (False, True, "*Handover so far: Basket — Alice → Bob*"),
])
def test_a_late_or_on_demand_post_says_so(late: bool, on_demand: bool, headline: str) -> None:
    report = handover_report("Basket", START, END, on_call("Alice"), on_call("Bob"), [], [], [], None, LONDON)
    assert handover_text(report, late=late, on_demand=on_demand).splitlines()[0] == headline


def busy_shift(count: int) -> list[Incident]:
    """`count` incidents through the shift, one a few seconds apart with long titles: every fourth high urgency, every
    third resolved within the shift, every fifth acknowledged."""
    made = []
    for n in range(1, count + 1):
        at = START + timedelta(seconds=n * 3)
        made.append(replace(
            incident(n, at.strftime("%Y-%m-%dT%H:%M:%S"),
                     (at + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S") if n % 5 == 0 else None,
                     (at + timedelta(minutes=9)).strftime("%Y-%m-%dT%H:%M:%S") if n % 3 == 0 else None,
                     title=f"Checkout failing for region {n} " + "x" * 200),
            urgency="high" if n % 4 == 0 else "low"))
    return made


def test_a_busy_shift_shows_the_most_pressing_few_and_counts_the_rest_within_slack_limits() -> None:
    shift = busy_shift(10_000)
    report = handover_report("Basket", START, END, on_call("Alice"), on_call("Bob"), shift, [],
                             [f"#{n}: 1 waiting" for n in range(40)], WORKING, LONDON)
    text = handover_text(report)
    assert len(text) <= 8_000  # a few screens, far under Slack's 40,000: readable, and never refused
    assert "(cut:" not in text  # it fits by choosing, not by being cut off
    # Open now: 6,667 open at the end; the most pressing first — high urgency, unacknowledged, the longest open.
    assert "*Open now (6,667)* — the 10 most pressing first" in text
    assert "…and 6,657 more still open — <https://acme.pagerduty.com/incidents|PagerDuty's incident list" in text
    open_part = text[text.index("*Open now"):text.index("*During the shift")]
    shown = [int(n) for n in re.findall(r"\|#(\d+) ", open_part)]
    assert shown == [4, 8, 16, 28, 32, 44, 52, 56, 64, 68]  # high, unacknowledged, by trigger (oldest first)
    # During the shift: counted, then the most pressing — high urgency and still open, the longest open first.
    assert "*During the shift (10,000)* — the 10 most pressing first" in text
    assert "10,000 triggered: 2,500 high urgency · 3,333 resolved · 6,667 still open (5,333 never acknowledged)" in text
    during_part = text[text.index("*During the shift"):text.index("*Pages out of hours")]
    assert [int(n) for n in re.findall(r"\|#(\d+) ", during_part)][:3] == [4, 8, 16]
    assert "…and 9,990 more this shift" in text
    assert "*Pages out of hours (0)*" in text
    assert "*Pending (40)*" in text and "…and 30 more pending" in text


def test_a_shift_that_fits_lists_everything_in_the_order_it_happened() -> None:
    text = handover_text(handover_report("Basket", START, END, on_call("Alice"), on_call("Bob"), busy_shift(10), [],
                                         [], WORKING, LONDON))
    during_part = text[text.index("*During the shift"):text.index("*Pages out of hours")]
    assert [int(n) for n in re.findall(r"\|#(\d+) ", during_part)] == list(range(1, 11))
    assert "most pressing" not in text and "…and" not in text


def test_two_engineers_sharing_a_name_are_each_mentioned() -> None:
    """Found in session 20: mentions were looked up by name, so when "Sam Jones" handed over to another "Sam Jones"
    the post read `<@U2> → <@U2>`: the outgoing engineer was named wrongly and never notified."""
    outgoing, incoming = [Person("P1", "Sam Jones")], [Person("P2", "Sam Jones")]
    text = handover_text(handover_report("Basket", START, END, outgoing, incoming, [], [], [], None, LONDON),
                         mentions={"P1": "U1", "P2": "U2"})
    assert text.splitlines()[0] == "*Handover: Basket — <@U1> → <@U2>*"
