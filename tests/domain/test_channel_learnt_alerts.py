"""The operators' alerts of a channel's effect given up on (bot/domain/effects/slack.py): true whether or not
ServiceNow's sync is on (the effect does not know), naming everything that is left stale, and saying what to do."""

from __future__ import annotations

from bot.domain.effects.slack import LearnBotBack, LearnChannelName


def test_a_name_never_learnt_names_everything_that_names_the_channel_with_or_without_servicenow() -> None:
    alert = LearnChannelName("PINC1", "C1").dead_alert(300, "slack: conversations.info failed: <ratelimited>")
    assert alert is not None
    assert "<#C1>" in alert and "&lt;ratelimited&gt;" in alert
    # The ticket only where there is one; the review's draft names the channel too.
    assert "when ServiceNow's sync is on" in alert and "review's draft" in alert
    assert "The ServiceNow ticket" not in alert
    assert "rename of the channel" in alert  # what makes the bot ask again


def test_a_return_never_learnt_says_what_stays_stale_and_what_to_do() -> None:
    alert = LearnBotBack("PINC1", "C1").dead_alert(300, "slack: conversations.info failed: 503")
    assert alert is not None
    assert "topic" in alert and "resolved" in alert  # when the topic is set again, and when it never is
    assert "removed from the channel again" in alert and "not told again" in alert  # the day's "told" key stays
    assert "`/invite @pavedroad`" in alert and "<#C1>" in alert
    assert "nothing is lost meanwhile but the topic's freshness" not in alert
