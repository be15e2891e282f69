"""The App Home under any input: whatever titles, names and notes it shows, the Home view fits Slack's limits and
carries no markup from outside; and whatever `app_home_opened` event arrives, signed, the bot answers it without a
5xx and publishes a Home only for a person of the workspace."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.events import Person
from bot.domain.incident import Incident, Status
from bot.render.format import SECTION_TEXT
from bot.render.home import HomeContent, HomeIncident, OnCallNow, WaitingNote, home_view
from sandbox.slack.blocks import block_errors
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import settle, slack_user, state
from tests.web.door_helpers import post_slack_at

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
outside_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="<>&|!@#*_~`:/\n aZ9é😀", max_size=300),
    st.sampled_from(["<!channel>", "<@U123>", "<#C123|general>", "<https://evil.example|click>", "&lt;!here&gt;"]),
    st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=4), st.integers(0, 5_000)),
)


@st.composite
def listed(draw: st.DrawFn) -> HomeIncident:
    status = draw(st.sampled_from([Status.TRIGGERED, Status.ACKNOWLEDGED]))
    incident = Incident(
        id="Q" + str(draw(st.integers(1, 10**9))), number=draw(st.integers(1, 2**63 - 1)), title=draw(outside_text),
        status=status, urgency="high", priority=None, service_id="PX", service_name=draw(outside_text),
        escalation_policy_id=None, escalation_policy_name=None,
        html_url=draw(st.one_of(outside_text, st.just("https://x.pagerduty.com/incidents/Q1"))),
        assignees=(Person("P1", draw(outside_text)),),
        triggered_at=NOW - timedelta(minutes=draw(st.integers(0, 10**6))),
        acknowledged_at=None, resolved_at=None, state_as_of=NOW, dedicated_channel=True)
    return HomeIncident(incident, draw(st.one_of(st.none(), st.just("C0123ABC"))))


_OURS = re.compile(r"<https?://[^<>|\s]+\|[^<>]*>|<#[A-Z0-9]+>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")


def outside_markup(mrkdwn: str) -> list[str]:
    """A `<`, `>` not part of our own links and channels, or an `&` that starts no entity: only outside text has it."""
    rest = _OURS.sub("", mrkdwn)
    return re.findall(r"[<>]", rest) + re.findall(r"&", _ENTITY.sub("", rest))


@given(mine=st.lists(listed(), max_size=25), everyone=st.lists(listed(), max_size=25),
       on_call=st.lists(st.builds(OnCallNow, outside_text, st.one_of(st.none(), st.lists(outside_text, max_size=3)
                                                                     .map(tuple))), max_size=20),
       notes=st.lists(st.builds(WaitingNote, outside_text, outside_text, outside_text), max_size=20),
       name=outside_text, problem=st.one_of(st.none(), outside_text))
def test_any_home_fits_slack_and_escapes_what_came_from_outside(
        mine: list[HomeIncident], everyone: list[HomeIncident], on_call: list[OnCallNow], notes: list[WaitingNote],
        name: str, problem: str | None) -> None:
    view = home_view(HomeContent(name, tuple(mine), tuple(everyone), tuple(on_call), tuple(notes), NOW, problem))
    assert view["type"] == "home"
    assert block_errors(view["blocks"], "/view/blocks", 100) == []
    assert len(json.dumps(view).encode()) <= 250 * 1024
    for block in view["blocks"]:
        texts = [block.get("text", {})] if block["type"] == "section" else block.get("elements", [])
        for text in texts:
            if text.get("type") == "mrkdwn":
                assert len(text["text"]) <= SECTION_TEXT
                assert outside_markup(text["text"]) == [], text["text"][:300]


PEOPLE = ["ben.okafor@example.com", "gary.lind@example.com"]


@given(data=st.data())
async def test_any_app_home_opened_is_answered_and_publishes_only_for_people(sandbox: RunningSandbox,
                                                                           data: st.DataObject) -> None:
    # Run on the test's loop: the sandbox (Slack, PagerDuty) and the bot serve it.
    real = {slack_user(sandbox, email) for email in PEOPLE}
    user: Any = data.draw(st.one_of(st.sampled_from(sorted(real)), st.text(max_size=20), st.none(),
                                    st.integers(), st.lists(st.text(max_size=3), max_size=2)), label="user")
    tab: Any = data.draw(st.one_of(st.sampled_from(["home", "messages"]), st.text(max_size=10), st.none()),
                         label="tab")
    event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab,
                             "event_ts": "1700000000.000100"}
    if data.draw(st.booleans(), label="with a view"):
        event["view"] = data.draw(st.one_of(st.none(), st.text(max_size=10), st.just({"type": "home"})))
    body = json.dumps({"token": "x", "team_id": sandbox.sandbox.slack.team_id, "type": "event_callback",
                       "api_app_id": sandbox.sandbox.slack.app_id, "event_time": 1700000000,
                       "event_id": "Ev" + str(data.draw(st.integers(0, 10**12))), "event": event}).encode()
    answer = await post_slack_at(f"{sandbox.url}/slack/events", sandbox.bot.settings.slack_signing_secret, body,
                                 content_type="application/json")
    assert answer.status < 500
    await settle(sandbox)
    assert set(state(sandbox)["slack"]["home_views"]) <= real
