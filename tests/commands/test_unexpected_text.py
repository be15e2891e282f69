"""Whatever is typed after `/incident`, and whatever value a card's button carries, the answer is written for the
person (what went wrong, what to type instead), never "something went wrong" (issue 11). Sent signed, as Slack sends
them, through the sandbox; the answers are read from the sandbox's response URL."""

from __future__ import annotations

import pytest

from bot.render.card import ACKNOWLEDGE, PAGE_INCIDENT_MANAGER, RESOLVE
from sandbox.world import RunningSandbox
from tests.commands.slack_requests import click, command, went_wrong
from tests.e2e.sandbox_helpers import card, incident_channels, trigger

NOT_A_REF = "is not an incident number"


async def test_status_of_incident_99999999999999999999999_is_a_user_error(sandbox: RunningSandbox) -> None:
    [answer] = await command(sandbox, "status #99999999999999999999999")
    assert answer == ("⚠️ I don't know incident `99999999999999999999999`. Give its PagerDuty number (e.g. "
                      "`/incident status 1234`) or run the command inside the incident's channel.")


@pytest.mark.parametrize(("text", "expected"), [
    ("ack 99999999999999999999999", "I don't know incident `99999999999999999999999`"),
    ("timeline #" + "9" * 400, "is not an incident number or id"),   # past any id's length
    ("ack ²³", f"`²³` {NOT_A_REF}"),                                   # digits, but not 0-9
    ("ack #", f"`#` {NOT_A_REF}"),
    ("status <!channel>", f"`@channel` {NOT_A_REF}"),                  # shown readable, never as a mention
    ("status Q1|<https://evil.example|x>", NOT_A_REF),
    ("note #12345678901234567890 hello", "I don't know incident `12345678901234567890`"),
    ("resolve 1e30 done", f"`1e30` {NOT_A_REF}"),
    ("page-im -1", f"`-1` {NOT_A_REF}"),
    ("oncall " + "x" * 3000, "I don't know `" + "x" * 99 + "…`"),
    ("service \u0000\u202e", "I don't know a service called"),
    ("service <!channel>", "I don't know a service called `&lt;!channel&gt;`."),       # escaped, never a mention
    ("service " + "y" * 3000, "I don't know a service called `" + "y" * 99 + "…`."),  # clipped
    ("new --service", "`--service` needs a value"),
    ("handover ☃" * 50, "I don't know the rota"),
    ("handover <!channel>", "I don't know the rota `&lt;!channel&gt;`."),                # escaped, never a mention
    ("report <!channel>", "I don't understand `&lt;!channel&gt;`"),
    ("report --by <!here>", "`--by &lt;!here&gt;` is not a grouping"),
    ("report --from <!here>", "`--from &lt;!here&gt;` is not a date"),
])
async def test_unexpected_command_texts_are_answered_for_the_person(sandbox: RunningSandbox, text: str,
                                                                    expected: str) -> None:
    [answer] = await command(sandbox, text)
    assert answer.startswith("⚠️ ") and expected in answer, answer
    assert "<!channel>" not in answer and "<https://evil" not in answer


async def test_inside_an_incident_channel_an_out_of_range_number_is_a_user_error(sandbox: RunningSandbox) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    [answer] = await command(sandbox, "status #99999999999999999999999", channel=channel["id"])
    assert answer.startswith("⚠️ I don't know incident `99999999999999999999999`")


@pytest.mark.parametrize(("value", "expected"), [
    ("99999999999999999999999", "I don't know incident `99999999999999999999999`"),
    ("1e30", "I don't know incident `1e30`"),
    ("²", "`²` is not an incident number or id"),
    # Half an emoji (a lone surrogate in the JSON) never reaches a listener: the door answers 400
    # (tests/web/test_slack_events.py).
    ("<!channel>", "`&lt;!channel&gt;` is not an incident number or id"),
    ("Q1 OR 1=1", "`Q1 OR 1=1` is not an incident number or id"),
    ("x" * 2000, "`" + "x" * 99 + "…` is not an incident number or id"),
    ("", "This isn't an incident channel"),
])
@pytest.mark.parametrize("action_id", [ACKNOWLEDGE, RESOLVE, PAGE_INCIDENT_MANAGER])
async def test_a_forged_button_value_is_a_user_error(sandbox: RunningSandbox, action_id: str, value: str,
                                                     expected: str) -> None:
    await trigger(sandbox)
    pinned = card(sandbox, incident_channels(sandbox)[0])
    [answer] = await click(sandbox, action_id, value, message_ts=pinned["ts"], channel="team-basket")
    assert answer.startswith("⚠️ ") and expected in answer, answer
    assert not went_wrong(answer) and "<!channel>" not in answer


async def test_a_command_mentioning_payload_is_answered(sandbox: RunningSandbox) -> None:
    [answer] = await command(sandbox, "note the payload was malformed")
    assert answer.startswith("⚠️ `the` is not an incident number")


@pytest.mark.parametrize(("typed", "shown"), [
    ("<!channel>", "`/incident @channel`"),                            # readable, never a mention
    ("`ack`", "`/incident 'ack'`"),                                    # no backtick ends the code early
    ("<https://evil.example|ack>", "`/incident ack (https://evil.example)`"),
    ("x" * 5000, "`/incident " + "x" * 99 + "…`"),                     # clipped, as every typed word shown back
])
async def test_an_unknown_subcommand_is_shown_back_readable_escaped_and_short(sandbox: RunningSandbox, typed: str,
                                                                             shown: str) -> None:
    [answer] = await command(sandbox, typed)
    first_line = answer.split("\n", 1)[0]
    assert first_line == f"I don't know {shown}.", first_line
    assert "<!channel>" not in answer and "<https://evil" not in answer


async def test_oncall_outside_an_incident_channel_says_to_name_what(sandbox: RunningSandbox) -> None:
    # The advice every other subcommand gets there ("give its number: `/incident status 1234`") is wrong for oncall,
    # which takes a service, team or rota, never an incident number.
    [answer] = await command(sandbox, "oncall")
    assert answer.startswith("⚠️ ") and "`/incident oncall <service|team|rota>`" in answer, answer
    assert "1234" not in answer
    [named] = await command(sandbox, "oncall basket-api")
    assert not named.startswith("⚠️ "), named


@pytest.mark.parametrize("typed", ["ack\u200b", "\ufeffack", "a\u2060ck"])
async def test_a_subcommand_pasted_with_an_invisible_character_is_still_known(sandbox: RunningSandbox,
                                                                             typed: str) -> None:
    # Copied from a runbook page, `/incident ack` can carry a zero-width space, a word joiner or a byte-order mark:
    # the answer was "I don't know `/incident ack`", naming what looks exactly like the right subcommand.
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    [answer] = await command(sandbox, typed, channel=channel["id"])
    assert answer.startswith("✅ Acknowledged #1 in PagerDuty"), answer


async def test_an_incident_number_pasted_with_an_invisible_character_is_still_the_number(
        sandbox: RunningSandbox) -> None:
    # As a subcommand can: "1\u200b" looked like 1 and was answered "`1` is not an incident number".
    await trigger(sandbox)
    [answer] = await command(sandbox, "ack 1\u200b", channel="team-basket")
    assert answer.startswith("✅ Acknowledged #1 in PagerDuty"), answer


async def test_a_word_where_the_incident_goes_is_not_taken_for_an_incident_id(sandbox: RunningSandbox) -> None:
    # Any word of 6 to 20 letters was taken for an incident id: "I don't know incident `database`", where the person
    # needed to hear that the incident must be named first; in the incident's channel, `ack database` acknowledged
    # nothing where the channel's incident was meant.
    incident = await trigger(sandbox)
    [outside] = await command(sandbox, "resolve database is back")
    assert outside.startswith("⚠️ `database` is not an incident number or id. Outside an incident channel, name the "
                              "incident first"), outside
    assert "`/incident resolve 1234" in outside and "I don't know incident" not in outside
    # In the incident's channel a word after `ack` is the person's aside: its incident is acknowledged.
    [channel] = incident_channels(sandbox)
    [inside] = await command(sandbox, "ack database", channel=channel["id"])
    assert inside.startswith(f"✅ Acknowledged #{incident['incident_number']}"), inside
    # Its id as PagerDuty writes it still names the incident, from anywhere.
    [status] = await command(sandbox, f"status {incident['id']}")
    assert not status.startswith("⚠️ ") and f"#{incident['incident_number']}" in status, status
