"""The incident manager's toolkit takes outside input in three places: the Take command and "Post an update"
buttons (any value a forged request carries), the update form (anything typed, any choice), and the commands it
records in the inbox (read back by the worker). Property-based: the buttons through the real app as Slack sends them;
the records through the worker's reading (bot/domain/from_slack.py), which must give back what was written (its
strings made storable) or a ValueError."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.domain.coordination import (
    ReminderDue,
    RoleAssignment,
    RoleHolder,
    StatusUpdate,
    StatusUpdatePosted,
)
from bot.domain.from_slack import from_json, to_json
from bot.domain.slack_text import blank
from bot.domain.storable import storable, storable_document
from bot.render.format import MESSAGE_TEXT
from bot.render.roles import TOOLKIT_ACTIONS
from sandbox.world import RunningSandbox
from tests.commands.slack_requests import Refused, click, went_wrong
from tests.e2e.sandbox_helpers import as_user, card, eventually, incident_channels, settle, state, trigger
from tests.property.loop_bridge import OnTheLoop, run_property

refs = st.one_of(st.from_regex(r"#?[0-9]{1,40}", fullmatch=True), st.from_regex(r"[A-Za-z0-9]{1,45}", fullmatch=True),
                 st.text(max_size=12))
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
holders = st.builds(RoleHolder, st.sampled_from(["commander", "communications"]), texts, texts)
updates = st.builds(StatusUpdate, id=texts, at=moments, author=texts, what=texts, impact=texts,
                    next_due=st.none() | moments, author_slack_id=st.none() | texts,
                    author_email=st.none() | texts, source=st.sampled_from(["slack", "pagerduty"]),
                    in_pagerduty=st.booleans())
commands = st.one_of(
    st.builds(RoleAssignment, texts, texts, moments, holders, texts, texts),
    st.builds(StatusUpdatePosted, texts, texts, moments, updates),
    st.builds(ReminderDue, texts, texts, moments, moments, st.integers(1, 10**6)),
)


# Each form example opens a form, submits it and tells four systems: a third of the profile's examples (all of them
# under the thorough profile).
PROFILE_EXAMPLES = settings().max_examples
FORM_EXAMPLES = PROFILE_EXAMPLES if PROFILE_EXAMPLES >= 1000 else max(PROFILE_EXAMPLES // 3, 1)


def assert_answered_for_people(answers: list[str]) -> None:
    for answer in answers:
        assert not went_wrong(answer), answer
        assert len(answer) <= MESSAGE_TEXT


@given(command=commands)
def test_a_recorded_command_reads_back_as_written(command: RoleAssignment | StatusUpdatePosted | ReminderDue) -> None:
    # As written, but for what no store takes: a record an older version stored with a NUL typed in it reads back
    # without it, as the door now takes it (bot/domain/storable.py).
    written = json.loads(to_json(command))
    read = from_json(to_json(command))
    assert json.loads(to_json(read)) == storable_document(written)
    if storable_document(written) == written:
        assert read == command


@given(body=st.one_of(texts, st.builds(lambda c, cut: to_json(c)[:cut], commands, st.integers(0, 400)),
                      st.recursive(st.none() | st.booleans() | st.integers() | texts,
                                   lambda inner: st.lists(inner) | st.dictionaries(texts, inner), max_leaves=10)
                      .map(str)))
def test_any_inbox_body_is_a_command_or_a_value_error(body: str) -> None:
    with contextlib.suppress(ValueError):  # anything else escapes, and fails the property
        from_json(body)


async def test_any_toolkit_button_value_is_answered_for_the_person(sandbox: RunningSandbox) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    pinned = card(sandbox, channel)
    on_loop = OnTheLoop()
    values = st.one_of(refs, st.text(alphabet=st.characters(codec=None, categories=None), max_size=50))

    @given(value=values, action_id=st.sampled_from(TOOLKIT_ACTIONS),
           where=st.sampled_from(["team-basket", channel["id"]]))
    @example(value="\ud800", action_id=TOOLKIT_ACTIONS[0], where="team-basket")  # half a character: every run tries one
    def prop(value: str, action_id: str, where: str) -> None:
        try:
            answers = on_loop.run(click(sandbox, action_id, value, message_ts=pinned["ts"], channel=where))
        except Refused as refused:
            # A lone surrogate is not I-JSON: the door refuses the body (400, saying so) before any listener sees
            # it (as the card buttons' property in test_command_texts.py holds); every other value is answered.
            assert any("\ud800" <= c <= "\udfff" for c in value), refused
            assert (refused.status, refused.error) == (
                400, "body.actions[0].value has a lone surrogate (half a character): not I-JSON")
            return
        assert not any("\ud800" <= c <= "\udfff" for c in value), "a lone surrogate reached a listener"
        assert_answered_for_people(answers)

    await run_property(prop)


async def test_any_update_form_is_published_as_typed_or_refused_in_the_form(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    on_loop = OnTheLoop()
    typed = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)

    # Slack lets a required input through with spaces, never empty.
    @settings(max_examples=FORM_EXAMPLES)
    @given(what=typed.filter(bool), impact=typed, choice=st.sampled_from(["15", "30", "60", "120", "240"]))
    @example(what="\x00", impact="", choice="30")  # nothing but a NUL: nothing typed, refused in the form
    @example(what="roll\x00ing back", impact="", choice="30")
    @example(what="\xad", impact="", choice="15")  # a soft hyphen alone: found by the thorough profile
    def prop(what: str, impact: str, choice: str) -> None:
        async def submit() -> None:
            # Hypothesis replays an example; the same form sent again within seconds is a double submission.
            sandbox.sandbox.advance(10)
            await as_user(sandbox, "command", user="erin.walsh@example.com", channel=channel["id"], text="update")
            view = [v for v in state(sandbox)["slack"]["views"] if v["callback_id"] == "incident_update_modal"][-1]
            before = len(state(sandbox)["pagerduty"]["status_updates"])
            answer = await as_user(sandbox, "view_submission", user="erin.walsh@example.com", view_id=view["id"],
                                   values={"update_what": {"text": what}, "update_impact": {"text": impact},
                                           "update_next": {"choice": choice}})
            kept = storable(what).strip()  # a NUL typed is dropped at the door (commands/in_flight.py)
            if blank(kept):  # nothing, or invisible characters alone (a soft hyphen): refused in the form
                await settle(sandbox)
                assert answer["body"]["response_action"] == "errors"
                assert len(state(sandbox)["pagerduty"]["status_updates"]) == before
                return
            # The form's answer comes before the update is recorded: wait for PagerDuty's copy.
            await eventually(lambda: len(state(sandbox)["pagerduty"]["status_updates"]) > before)
            await settle(sandbox)
            published = [u for u in state(sandbox)["pagerduty"]["status_updates"]
                         if u["incident_id"] == incident["id"]]
            assert published[-1]["message"].startswith(kept)
        on_loop.run(submit())

    await run_property(prop)
