"""Handovers say what changed over the shift as it stood at its end (found in review, session 25): an incident put
back to triggered — reassigned to the next shift's engineer, or its acknowledgement timed out — is handed over as
unacknowledged, not "acknowledged"; one handed over open and resolved on the next shift is in that shift's handover;
and a note can be left for one of the rotas sharing a channel, by naming it as the bot asks."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.catalogue import Catalogue
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, as_user, channel_id, move_clock, replies, settle, state
from tests.helpers import StartSandbox

DEV, CHLOE = "dev.sharma@example.com", "chloe.martin@example.com"
FRIDAY_AFTERNOON = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # London is on GMT (UTC) in November


async def _clock(running: RunningSandbox, *, advance_seconds: float | None = None, to: str | None = None) -> None:
    await move_clock(running, advance_seconds=advance_seconds, to=to)
    await settle(running)


def _handovers(running: RunningSandbox, channel: str) -> list[str]:
    cid = channel_id(running, channel)
    return [m["text"] for m in state(running)["slack"]["messages"]
            if m["channel"] == cid and m["text"].startswith("*Handover") and not m["ephemeral_to"]]


def _open_line(post: str, title: str) -> str:
    section = post.split("*Open now")[1].split("*During the shift")[0]
    return next(line for line in section.splitlines() if title in line)


async def test_an_incident_reassigned_to_the_next_shift_is_not_handed_over_as_acknowledged(
        start_sandbox: StartSandbox) -> None:
    # Dev acknowledges, then at the end of the shift reassigns the incident to Chloe (who takes over at 17:30):
    # PagerDuty puts it back to "triggered" until Chloe acknowledges it. The handover must not tell Chloe it is
    # acknowledged (someone is on it) when nobody is.
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    incident = await running.sandbox.pagerduty.trigger(title="Card payments failing", service_id="PCHECKO")
    await settle(running)
    await _clock(running, advance_seconds=120)
    await act(running, incident["id"], "acknowledge", user=DEV)
    await _clock(running, to="2026-11-27T17:25:00+00:00")
    await act(running, incident["id"], "reassign", user=DEV, to=CHLOE)
    assert running.sandbox.pagerduty.account.incident(incident["id"]).status == "triggered"

    await _clock(running, to="2026-11-27T17:30:05+00:00")

    [post] = _handovers(running, "team-payments")
    assert "unacknowledged" in _open_line(post, "Card payments failing"), post


async def test_an_incident_whose_acknowledgement_timed_out_is_not_handed_over_as_acknowledged(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    incident = await running.sandbox.pagerduty.trigger(title="Card payments failing", service_id="PCHECKO")
    await settle(running)
    await act(running, incident["id"], "acknowledge", user=DEV)
    await _clock(running, to="2026-11-27T17:00:00+00:00")
    await act(running, incident["id"], "unacknowledge")  # the acknowledgement timed out: back to triggered

    await _clock(running, to="2026-11-27T17:30:05+00:00")

    [post] = _handovers(running, "team-payments")
    assert "unacknowledged" in _open_line(post, "Card payments failing"), post


async def test_an_incident_handed_over_open_and_resolved_in_the_next_shift_is_in_that_shifts_handover(
        start_sandbox: StartSandbox) -> None:
    # Triggered in the day shift, handed over open at 17:30, resolved by the night engineer at 20:00: the night's
    # handover (Friday 09:00) must say what became of it — it is neither "open now" nor "triggered during the
    # shift", so today it is in no list at all, and the day team never learns it was fixed (nor in how long).
    running = await start_sandbox(at=datetime(2026, 11, 26, 16, 0, tzinfo=UTC))  # Thursday
    incident = await running.sandbox.pagerduty.trigger(title="Card payments failing", service_id="PCHECKO")
    await settle(running)
    await act(running, incident["id"], "acknowledge", user=DEV)
    await _clock(running, to="2026-11-26T17:30:05+00:00")
    [evening] = _handovers(running, "team-payments")
    assert "Card payments failing" in evening.split("*Open now")[1].split("*During the shift")[0]
    await _clock(running, to="2026-11-26T20:00:00+00:00")
    await act(running, incident["id"], "resolve", user=DEV)

    await _clock(running, to="2026-11-27T09:00:05+00:00")

    morning = _handovers(running, "team-payments")[-1]
    assert morning.startswith("*Handover: Payments") and "Shift Thu 26 Nov 17:30 → Fri 27 Nov 09:00" in morning
    assert "Card payments failing" in morning, morning


async def test_a_note_naming_one_of_the_rotas_sharing_a_channel_is_left_for_that_rota(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    # Two rotas hand over in one channel (the day team's and the domain's nights). In that channel the bot asks
    # "Which rota? ... name it after the command, e.g. `/incident handover-note payments <text>`" — and doing just
    # that is refused with the same question, so no note can be left from the channel.
    shared = catalogue.model_copy(update={"rotas": [
        r.model_copy(update={"slack_channel": "team-payments"}) if r.id == "retail-nights" else r
        for r in catalogue.rotas]})
    running = await start_sandbox(at=FRIDAY_AFTERNOON, organisation=shared)

    answer = await as_user(running, "command", user=DEV, channel="team-payments",
                           text="handover-note retail-nights watch the refunds queue")

    assert "Noted for the *Retail nights* handover" in replies(answer), replies(answer)
