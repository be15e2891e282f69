"""Whatever someone types after `/incident`, and whatever value a card's button carries, the bot answers in words
written for the person: never "something went wrong", and never an answer Slack would refuse (issue 11).
Property-based, through the real command path: signed requests to the bot's /slack/events, as Slack sends them, in
a team channel and in an incident channel of the sandbox (where the commands really act on PagerDuty)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bot.render.card import CARD_ACTIONS
from bot.render.format import MESSAGE_TEXT
from commands.table import BY_NAME
from sandbox.world import RunningSandbox
from tests.commands.slack_requests import Refused, click, command, went_wrong
from tests.e2e.sandbox_helpers import card, incident_channels, trigger
from tests.property.loop_bridge import OnTheLoop, run_property

MARKUP = "<>&|!@#*_~`'\"“”—-=:/\n\t "
words = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=MARKUP + "aZ9é²٣😀", min_size=1, max_size=12),
    st.from_regex(r"#?[0-9]{1,40}", fullmatch=True),              # incident numbers, in range and far out of it
    st.from_regex(r"#?[A-Za-z0-9]{1,45}", fullmatch=True),        # ids of every length
    st.sampled_from(["<!channel>", "<@U123|ben>", "<#C123|general>", "<https://evil.example|x>", "--service",
                     "--urgency", "--service=checkout", "--from", "2026-99-99", "--by", "post", "1e30", "-1",
                     "\u0000", "\u202e", "NaN", "basket", "incident managers"]),
)
# What names an incident: a number of any length (PagerDuty's are 64-bit: 19 digits or more overflow), "#" and a
# number, or any word at all.
digits = st.integers(1, 40).flatmap(lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n))
refs = st.one_of(digits, digits.map(lambda n: f"#{n}"), words)
subcommands = st.sampled_from([*sorted(BY_NAME), "ACK", "Status", "frobnicate", ""])
structured = st.builds(lambda sub, ref, rest: " ".join([sub, ref, *rest]), subcommands, refs,
                       st.lists(words, max_size=5))
# "payload" is among the words on purpose: slack_bolt read any form containing it as a click (bot/app/web.py).
command_texts = st.one_of(structured, structured, structured.map(lambda text: f"{text} payload"), st.text(max_size=200))


def assert_answered_for_people(answers: list[str]) -> None:
    for answer in answers:
        assert not went_wrong(answer), answer
        assert len(answer) <= MESSAGE_TEXT
        # No answer of the bot's notifies a channel: a typed <!channel>, <!here> or <!subteam^…> shown back is
        # escaped (the bot's own mentions are of people, <@U…>).
        assert "<!" not in answer, answer


async def test_any_command_text_is_answered_for_the_person(sandbox: RunningSandbox) -> None:
    await trigger(sandbox)
    channels = ["team-basket", incident_channels(sandbox)[0]["id"]]
    on_loop = OnTheLoop()
    # Someone mentioned, whose Slack name (theirs to write, and now put into what was typed) is markup itself.
    chloe = sandbox.sandbox.slack.resolve_user("chloe.martin")
    assert chloe is not None
    chloe.real_name = "<!channel> *Chloe* <https://evil.example|x>"
    texts = st.one_of(command_texts, st.builds(lambda text, at: f"{text} <@{chloe.id}|chloe.martin> {at}",
                                               command_texts, st.lists(words, max_size=2).map(" ".join)))

    @given(text=texts, where=st.sampled_from(channels))
    def prop(text: str, where: str) -> None:
        assert_answered_for_people(on_loop.run(command(sandbox, text, channel=where)))

    await run_property(prop)


async def test_any_button_value_is_answered_for_the_person(sandbox: RunningSandbox) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    pinned = card(sandbox, channel)
    on_loop = OnTheLoop()
    # Any JSON string at all, lone surrogates included: a forged request's value is whatever its sender wrote.
    values = st.one_of(refs, st.text(alphabet=st.characters(codec=None, categories=None), max_size=50),
                       st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=3),
                                 st.integers(0, 5_000)))

    @given(value=values, action_id=st.sampled_from(CARD_ACTIONS), where=st.sampled_from(["team-basket", channel["id"]]))
    @example(value="\ud83d", action_id=CARD_ACTIONS[0], where="team-basket")  # half an emoji: every run tries one
    def prop(value: str, action_id: str, where: str) -> None:
        try:
            answers = on_loop.run(click(sandbox, action_id, value, message_ts=pinned["ts"], channel=where))
        except Refused as refused:
            # A lone surrogate is not I-JSON: the door refuses the body (400, saying so) before any listener sees
            # it, as tests/web/test_slack_events.py holds; every other value is answered.
            assert any("\ud800" <= c <= "\udfff" for c in value), refused
            assert (refused.status, refused.error) == (
                400, "body.actions[0].value has a lone surrogate (half a character): not I-JSON")
            return
        assert not any("\ud800" <= c <= "\udfff" for c in value), "a lone surrogate reached a listener"
        assert_answered_for_people(answers)

    await run_property(prop)
