"""The operators' alert when the notice to a person whose request a stop cut short is given up on: it names the
person and what they were to be told, not an incident (the notice's queue is the person's)."""

from __future__ import annotations

from bot.domain.effects import TellPerson
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
