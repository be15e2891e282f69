"""The App Home in a storm, through the sandbox's Slack (which refuses a Home over 100 blocks, a text over its
length, or a view over 250 KB: `invalid_arguments`, `view_too_large`): 500 open incidents with very long titles
still publish a Home, listing the most pressing and saying how many more there are and where they all are."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from bot.render.home import HomeContent, HomeIncident, OnCallNow, WaitingNote, home_view
from sandbox.slack.blocks import block_errors
from sandbox.slack.home import MOST_BYTES
from sandbox.world import RunningSandbox
from tests.domain.handover_shift import incident
from tests.e2e.sandbox_helpers import open_home, slack_user, state

BEN = "ben.okafor@example.com"
FIRE = "🔥"  # 12 bytes of JSON (\\ud83d\\udd25): the heaviest character a title can have
NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def storm(count: int, title: str, service: str) -> list[HomeIncident]:
    return [HomeIncident(replace(incident(100_000 + n, "2026-11-27T09:00", title=f"{n} {title}"),
                                 service_name=service), "C0123456789") for n in range(count)]


async def test_five_hundred_open_incidents_with_long_titles_publish_a_home_that_says_where_the_rest_are(
        sandbox: RunningSandbox) -> None:
    now = sandbox.bot.clock.now()
    busy = [replace(incident(100_000 + n, now.strftime("%Y-%m-%dT%H:%M"), title=f"{n} " + FIRE * 2_000),
                    service_id="PCHECKO", service_name=FIRE * 300) for n in range(500)]
    assert await sandbox.bot.store.add_history(busy, [], now=now.timestamp()) == (500, 0)
    answer = await open_home(sandbox, BEN)
    assert answer["status"] == 200
    view = state(sandbox)["slack"]["home_views"][slack_user(sandbox, BEN)]
    text = "\n".join(str(b.get("text", {}).get("text", "")) for b in view["blocks"])
    assert "*All open incidents — the 20 most pressing first*" in text
    assert ("…and 480 more open incidents: <https://acme.pagerduty.com/incidents|PagerDuty's incident list has "
            "them all>") in text


def test_a_home_of_the_heaviest_text_stays_within_slacks_250_kb() -> None:
    """Found in review: each text was clipped to Slack's characters, not to the view's bytes. Titles, names and notes
    in emoji (or Chinese, Japanese: 6 bytes a character) made a Home of 800 KB, refused `view_too_large`."""
    for heavy in (FIRE, "字", "<"):
        listed = storm(500, heavy * 5_000, heavy * 500)
        on_call = tuple(OnCallNow(heavy * 300, tuple(heavy * 200 for _ in range(50))) for _ in range(60))
        notes = tuple(WaitingNote(heavy * 200, heavy * 200, heavy * 5_000) for _ in range(60))
        view = home_view(HomeContent("Ben " + heavy * 300, tuple(listed), tuple(listed), on_call, notes, NOW,
                                     problem=heavy * 5_000))
        assert block_errors(view["blocks"], "/view/blocks", 100) == []
        assert len(json.dumps(view).encode()) <= MOST_BYTES, heavy
