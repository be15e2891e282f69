"""Whatever PagerDuty, ServiceNow or a person writes — any Unicode, any length, any markup — what the bot posts fits
Slack's limits and carries no markup from outside (issue 11). Property-based: random incidents through every render
that reaches Slack, random blocks through the Slack adapter's last guard, and a few random titles end to end through
the sandbox, where the emulator refuses what Slack refuses."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.slack.fit import Fit
from bot.domain.events import Person
from bot.domain.handover import HandoverReport, Note, ShiftIncident, handover_report
from bot.domain.incident import Incident, Status
from bot.domain.timeline import TimelineEntry
from bot.render import card as cards
from bot.render import replies
from bot.render.format import ENTRY_TEXT, MESSAGE_TEXT, TOPIC_TEXT
from bot.render.handover import SHOWN, handover_text, shown_open
from sandbox.slack.blocks import block_errors, view_errors
from sandbox.world import RunningSandbox
from tests.domain.handover_shift import on_call
from tests.property.loop_bridge import OnTheLoop, run_property

# The inputs are huge on purpose: a failing example is reported without Hypothesis's warning about its size.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MARKUP = "<>&|!@#*_~`:/\n "

# Text as outsiders write it: any Unicode (no lone surrogates: text is made safe on the way in), Slack's markup
# characters, mentions and links typed as text, and lengths from nothing to far past every limit.
outside_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=MARKUP + "aZ9é😀", max_size=300),
    st.sampled_from(["<!channel>", "<!here|here>", "<@U123>", "<#C123|general>", "<https://evil.example|click>",
                     "&amp;", "&lt;!channel&gt;", "a|b>c", "*bold* _it_ `code`"]),
    st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=4), st.integers(0, 60_000)),
)
urls = st.one_of(
    st.just("https://acme.pagerduty.com/incidents/Q1"),
    st.builds(lambda tail: "https://x.pagerduty.com/incidents/" + tail, outside_text),
    st.sampled_from(["https://x.pagerduty.com/incidents/Q1|<!channel>", "https://evil.example>click",
                     "javascript:alert(1)", "", "https://pagerduty.com@evil.example/", "http://127.0.0.1:3000/x"]),
    outside_text,
)
people = st.lists(st.builds(Person, id=st.text(max_size=10), name=outside_text), max_size=4).map(tuple)


@st.composite
def incidents(draw: st.DrawFn) -> Incident:
    status = draw(st.sampled_from(list(Status)))
    acknowledged = NOW - timedelta(minutes=5) if status is not Status.TRIGGERED else None
    return Incident(id=draw(st.text(alphabet="PQ0123456789ABC", min_size=1, max_size=14)),
                    number=draw(st.integers(1, 2**63 - 1)), title=draw(outside_text), status=status,
                    urgency=draw(st.one_of(st.sampled_from(["high", "low"]), outside_text)),
                    priority=draw(st.one_of(st.none(), outside_text)), service_id=draw(st.text(max_size=10)),
                    service_name=draw(outside_text), escalation_policy_id=None,
                    escalation_policy_name=draw(st.one_of(st.none(), outside_text)), html_url=draw(urls),
                    assignees=draw(people), triggered_at=NOW - timedelta(minutes=30), acknowledged_at=acknowledged,
                    resolved_at=NOW if status is Status.RESOLVED else None, state_as_of=NOW, dedicated_channel=True)


def entries_for(incident: Incident, texts: list[str], kinds: list[str]) -> list[TimelineEntry]:
    return [TimelineEntry(f"E{i}", incident.id, NOW, kind, None, text)
            for i, (text, kind) in enumerate(zip(texts, kinds, strict=False))]


# Our own markup: links to http(s) URLs with nothing Slack would misread in them, channels, user mentions.
_OURS = re.compile(r"<https?://[^<>|\s]+\|[^<>]*>|<#[A-Z0-9]+>|<@[A-Z0-9]+>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")


def outside_markup(mrkdwn: str) -> list[str]:
    """What in a Slack text could only have come from outside unescaped: a `<` or `>` that is not part of our own
    links and mentions, or an `&` that starts no entity."""
    rest = _OURS.sub("", mrkdwn)
    return re.findall(r"[<>]", rest) + re.findall(r"&", _ENTITY.sub("", rest))


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
                found.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(blocks)
    return found


@given(incident=incidents(), notes=st.lists(outside_text, max_size=4),
       kinds=st.lists(st.sampled_from(["annotated", "servicenow_note", "triggered"]), min_size=4, max_size=4))
def test_every_render_of_any_incident_fits_slack_and_escapes_what_came_from_outside(
        incident: Incident, notes: list[str], kinds: list[str]) -> None:
    blocks = cards.card_blocks(incident, NOW, cards.TicketView("INC0010001", incident.html_url, pending=True))
    assert block_errors(blocks, "/blocks", 50) == []
    entries = entries_for(incident, notes, kinds)
    texts = [cards.card_text(incident), cards.announcement(incident, "C0123ABC"),
             replies.status_text(incident, entries, [{"kind": "post_timeline_entry"}], NOW),
             *replies.timeline_pages(incident, entries),
             *(cards.timeline_line(NOW, e.text, cards.full_entry_at(incident, e.kind)) for e in entries)]
    for text in texts:
        assert len(text) <= MESSAGE_TEXT
    for e, line in zip(entries, texts[-len(entries):] if entries else [], strict=True):
        assert len(line) <= ENTRY_TEXT + 40 or len(e.text) <= ENTRY_TEXT
    for markup in [*texts, *mrkdwn_texts(blocks)]:
        assert outside_markup(markup) == [], markup[:300]
    assert len(cards.topic(incident)) <= TOPIC_TEXT
    for modal in (replies.resolve_modal(incident, "C0123ABC"), replies.page_im_modal(incident, "C0123ABC")):
        assert view_errors(modal) == []
        assert outside_markup(modal["blocks"][0]["text"]["text"]) == []


@given(shift=st.lists(incidents(), max_size=3), names=st.lists(outside_text, max_size=3),
       notes=st.lists(st.tuples(outside_text, outside_text), max_size=3), pending=st.lists(outside_text, max_size=2))
def test_any_handover_post_fits_slack_and_escapes_what_came_from_outside(
        shift: list[Incident], names: list[str], notes: list[tuple[str, str]], pending: list[str]) -> None:
    report = HandoverReport(rota_name="Basket", shift_start=NOW - timedelta(hours=8), shift_end=NOW,
                            tz="Europe/London", outgoing=tuple(on_call(*names)),
                            incoming=tuple(on_call(*reversed(names))),
                            open_now=tuple(shift), during_shift=tuple(ShiftIncident(i, None, None) for i in shift),
                            out_of_hours=tuple(shift), notes=tuple(Note(t, a) for t, a in notes),
                            pending=tuple(pending))
    text = handover_text(report, mentions={f"P{names[0]}": "U0123ABC"} if names else None,
                         channels={i.id: "C0123ABC" for i in shift})
    assert len(text) <= MESSAGE_TEXT
    assert outside_markup(text) == [], text[:300]



@given(kinds=st.lists(incidents(), min_size=1, max_size=3), copies=st.integers(1, 1_500),
       pending=st.lists(outside_text, max_size=30), urls=st.lists(urls, min_size=1, max_size=3))
def test_a_busy_shift_of_any_incidents_fits_slack_lists_at_most_ten_of_each_and_counts_them_all(
        kinds: list[Incident], copies: int, pending: list[str], urls: list[str]) -> None:
    """Thousands of incidents made of outsiders' text (a storm of one alert, many services): the handover fits one
    message, carries no markup from outside (the link to PagerDuty's incident list included, whatever the incidents'
    own URLs are), lists at most `SHOWN` of each list and counts every one — unless outsiders' text is so long that
    even ten lines overflow, when the last guard cuts it and says so."""
    shift = [replace(kind, id=f"Q{n}", number=n + 1, html_url=urls[n % len(urls)],
                     triggered_at=NOW - timedelta(hours=7, seconds=-n))
             for n in range(copies) for kind in [kinds[n % len(kinds)]]]
    # As many again handed over open at the shift's start and resolved during it (a storm fixed on this shift).
    before = [replace(kind, id=f"R{n}", number=copies + n + 1, html_url=urls[n % len(urls)], status=Status.RESOLVED,
                      triggered_at=NOW - timedelta(hours=9), resolved_at=NOW - timedelta(hours=1, seconds=n))
              for n in range(copies) for kind in [kinds[n % len(kinds)]]]
    report = handover_report("Basket", NOW - timedelta(hours=8), NOW, on_call("Alice"), on_call("Bob"),
                             shift + before, [], pending, None, "Europe/London")
    text = handover_text(report, channels={i.id: "C0123ABC" for i in shown_open(report)})
    assert len(text) <= MESSAGE_TEXT
    assert outside_markup(text) == [], text[:300]
    assert len(shown_open(report)) == min(len(report.open_now), SHOWN)
    assert len(report.resolved_from_before) == copies
    assert len([line for line in text.splitlines() if line.startswith("• ")]) <= 4 * SHOWN
    assert f"*Open now ({len(report.open_now):,})*" in text
    if "(cut:" not in text:
        assert f"*During the shift ({copies:,})*" in text
        assert (f"…and {copies - SHOWN:,} more this shift" in text) == (copies > SHOWN)
        assert f"*Pending ({len(pending):,})*" in text
        assert f"*Resolved this shift, open at its start ({copies:,})*" in text

def text_object(kind: str, text: str) -> dict[str, str]:
    return {"type": kind, "text": text}


@st.composite
def any_blocks(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Blocks as a careless render might build them: every kind we post, with any text at any length."""
    text = st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=3), st.integers(1, 50_000))
    kinds = st.sampled_from(["header", "section", "fields", "context", "actions"])
    blocks: list[dict[str, Any]] = []
    for kind in draw(st.lists(kinds, min_size=1, max_size=60)):
        if kind == "header":
            blocks.append({"type": "header", "text": text_object("plain_text", draw(text))})
        elif kind == "section":
            blocks.append({"type": "section", "text": text_object("mrkdwn", draw(text))})
        elif kind == "fields":
            blocks.append({"type": "section", "fields": [text_object("mrkdwn", t)
                                                         for t in draw(st.lists(text, min_size=1, max_size=12))]})
        elif kind == "context":
            blocks.append({"type": "context", "elements": [text_object("mrkdwn", t)
                                                           for t in draw(st.lists(text, min_size=1, max_size=12))]})
        else:
            blocks.append({"type": "actions", "elements": [
                {"type": "button", "action_id": f"a{i}", "value": draw(text), "text": text_object("plain_text", t),
                 "confirm": {"title": text_object("plain_text", draw(text)), "text": text_object("mrkdwn", draw(text)),
                             "confirm": text_object("plain_text", "Yes"), "deny": text_object("plain_text", "No")}}
                for i, t in enumerate(draw(st.lists(text, min_size=1, max_size=30)))]})
    return blocks


@given(blocks=any_blocks(), text=st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=3),
                                           st.integers(0, 120_000)))
def test_the_slack_adapters_last_guard_fits_anything_to_slacks_limits(blocks: list[dict[str, Any]],
                                                                       text: str) -> None:
    fit = Fit()
    sent = copy.deepcopy(blocks)
    assert block_errors(fit.blocks(blocks), "/blocks", 50) == []
    assert blocks == sent  # the caller's blocks are left as they were: a clipped one is a copy
    assert len(fit.text(text)) <= MESSAGE_TEXT
    assert len(fit.topic(text)) <= TOPIC_TEXT


def test_the_guard_leaves_what_fits_as_it_is() -> None:
    blocks = cards.card_blocks(Incident(
        id="Q1", number=7, title="Checkout returns 500s", status=Status.TRIGGERED, urgency="high", priority="P1",
        service_id="PBASKET", service_name="Basket API", escalation_policy_id=None, escalation_policy_name=None,
        html_url="https://acme.pagerduty.com/incidents/Q1", assignees=(), triggered_at=NOW, acknowledged_at=None,
        resolved_at=None, state_as_of=NOW, dedicated_channel=True), NOW)
    assert Fit().blocks(blocks) == blocks and Fit().text("ok & <@U1>") == "ok & <@U1>"


# ----- end to end: random titles through the sandbox ------------------------------------------------------------------

async def test_any_title_gets_its_card_pinned_and_everything_posted_fits(sandbox: RunningSandbox) -> None:
    on_loop = OnTheLoop()
    # Past every Slack limit, but within a webhook the bot accepts (256 KB: the title travels twice, JSON-escaped).
    titles = st.one_of(st.text(max_size=300), st.text(alphabet=MARKUP + "aZ9", max_size=300),
                       st.builds(lambda piece, times: piece * times,
                                 st.text(alphabet=MARKUP + "aZ9", min_size=1, max_size=4), st.integers(1, 12_000)),
                       ).filter(lambda t: t.strip() != "")  # PagerDuty refuses a blank title

    @settings(max_examples=10)  # each example is a whole incident through the sandbox: a few are enough here
    @given(title=titles)
    def prop(title: str) -> None:
        on_loop.run(one_title(sandbox, title))

    await run_property(prop)


async def one_title(running: RunningSandbox, title: str) -> None:
    incident = await running.sandbox.pagerduty.trigger(title=title, service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    await running.bot.settle(20)
    footprint = await running.bot.store.footprint(str(incident["id"]))
    assert footprint.channel_id is not None and footprint.card_ts is not None and footprint.card_pinned
    for message in running.sandbox.state()["slack"]["messages"]:
        assert len(message["text"]) <= MESSAGE_TEXT
        assert block_errors(message["blocks"], "/blocks", 50) == []
    assert (await running.bot.readiness())["dead_effects"] == []
