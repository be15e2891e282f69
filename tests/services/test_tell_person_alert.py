"""The operators' alert when the notice to a person whose request a stop cut short is given up on: it names the
person and what they were to be told, not an incident (the notice's queue is the person's)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.coordination import StatusUpdate, StatusUpdatePosted, command_to_json
from bot.domain.effects.pagerduty import CompleteHandover
from bot.domain.effects.slack import PostHandover, RefreshCard, TellPerson
from bot.domain.quarantine import update_not_published
from bot.ports.store import OutboxRow
from bot.services.retries import Failure, dead_alert


def test_a_notice_given_up_on_names_its_person_and_what_they_were_to_be_told() -> None:
    notice = TellPerson("person:UASHA", "UASHA", "⚠️ Paved Road restarted (a deploy) before it could start "
                        "`/incident page-im` (incident PINC1): nothing was done. Send it again.")
    alert = dead_alert(OutboxRow(7, notice, 8, 0.0), Failure("slack: chat.postMessage failed: <user_not_found>",
                                                             False), now=60.0)
    assert "<@UASHA>" in alert and "`/incident page-im` (incident PINC1): nothing was done" in alert
    assert "incident person:" not in alert
    assert "&lt;user_not_found&gt;" in alert  # Slack's words shown, never markup


def test_an_alert_for_rate_limiting_names_what_the_effect_was_for_not_its_queue() -> None:
    # The rate-limited alert is built for every effect alike, and named each one's queue as an incident: "for incident
    # person:UASHA", "for incident handover:basket". Each now names its subject.
    refused = Failure("slack: chat.postMessage failed: ratelimited", True, 30.0, rate_limited_by="slack")
    cases = {TellPerson("person:UASHA", "UASHA", "Send &lt;it&gt; again."): "for <@UASHA> (in their direct messages "
                                                                            "with the app, the message: Send &lt;it&gt;"
                                                                            " again.): Slack refused it",
             PostHandover("handover:basket", "basket", "basket@2026-12-03T09:00Z"):
                 "for rota basket's on-call handover basket@2026-12-03T09:00Z: Slack refused it",
             CompleteHandover("handover:basket", "basket", "basket@2026-12-03T09:00Z"):
                 "for rota basket's on-call handover basket@2026-12-03T09:00Z: Slack refused it",
             RefreshCard("PINC1"): "for incident PINC1: Slack refused it"}
    for effect, named in cases.items():
        alert = dead_alert(OutboxRow(7, effect, 8, 0.0, rate_limited_since=0.0), refused, now=3600.0)
        assert named in alert, alert
        assert "incident person:" not in alert and "incident handover:" not in alert


def test_a_handover_slack_will_not_let_the_bot_post_says_what_to_change() -> None:
    """A rota's channel where posting is limited to admins (Slack's `restricted_action`): the alert said to check the
    bot's token and scopes, which are fine."""
    handover = PostHandover("handover:basket", "basket", "basket@2026-12-03T09:00Z")
    alert = dead_alert(OutboxRow(7, handover, 1, 0.0), Failure(
        "slack: chat.postMessage failed: restricted_action (channel #basket-oncall)", False), now=60.0)
    assert "Posting permissions" in alert and "token and scopes" not in alert, alert


def test_a_take_commands_notice_given_up_on_claims_no_restart() -> None:
    """Erin's Take command found the seat filled (bot/domain/toolkit.py) and Slack would not deliver her notice: the
    alert said Paved Road "could not tell <@UERIN> … that a restart cut their request short" — no restart happened."""
    notice = TellPerson("person:UERIN", "UERIN", "Ben Okafor took command of #42 just before you, so they lead it and "
                        "nothing was changed. To take over from them, `/incident role commander me`.")
    alert = dead_alert(OutboxRow(7, notice, 8, 0.0), Failure("slack: chat.postMessage failed: user_disabled", False),
                       now=60.0)
    assert "<@UERIN>" in alert and "Ben Okafor took command of #42 just before you" in alert, alert
    assert "restart" not in alert, alert


def test_a_notice_of_a_set_aside_update_given_up_on_shows_its_words_as_they_were_typed() -> None:
    """The notice's text is Slack markup, its quoted words escaped once by quarantine.py: the alert escaped them a
    second time, and the operators read `&lt;10:02&gt;` where Slack should show `<10:02>` (found in review)."""
    at = datetime(2026, 12, 5, 10, 5, tzinfo=UTC)
    command = StatusUpdatePosted("u1", "PINC1", at, StatusUpdate("u1", at, "Asha Patel", "Rolling back the <10:02> "
                                                                 "deploy & watching", author_slack_id="UASHA"), 1)
    notice = update_not_published("ab12cd34", command_to_json(command))
    assert notice is not None and "> Rolling back the &lt;10:02&gt; deploy &amp; watching" in notice.text
    alert = dead_alert(OutboxRow(7, notice, 8, 0.0), Failure("slack: chat.postMessage failed: user_disabled", False),
                       now=60.0)
    assert "> Rolling back the &lt;10:02&gt; deploy &amp; watching" in alert, alert
    assert "&amp;lt;" not in alert and "&amp;amp;" not in alert, alert
