"""A rota with no out-of-hours on-call (`out_of_hours: false`) posts no handover when its out-of-hours shift starts
(17:30), but who is on call still changes then: its members' App Homes are published again, so they stop showing
the day's engineer as on call. Only a posted handover used to refresh them: Basket's Homes said Asha or Dev was on
call all evening (until something else about them changed)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.catalogue import Catalogue
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, move_clock, open_home, slack_user, state
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"


def basket_on_call(running: RunningSandbox) -> str:
    """The Basket line of Asha's Home as last published."""
    view = state(running)["slack"]["home_views"][slack_user(running, ASHA)]
    text = "\n".join(str(b.get("text", {}).get("text", "")) for b in view["blocks"])
    [line] = [line for line in text.splitlines() if line.startswith("*Basket (working hours)*")]
    return line


async def test_a_shift_change_nobody_takes_over_republishes_the_rotas_homes(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    # Basket's rota alone: no other rota's handover at 17:30 publishes Asha's Home again by the way.
    basket_only = catalogue.model_copy(update={"rotas": [r for r in catalogue.rotas if r.id == "basket"]})
    running = await start_sandbox(basket_only, at=datetime(2026, 11, 27, 17, 0, tzinfo=UTC))
    await open_home(running, ASHA)
    before = basket_on_call(running)
    assert "Asha Patel" in before or "Dev Sharma" in before, before
    await move_clock(running, to="2026-11-27T17:30:05+00:00")
    await eventually(lambda: "nobody" in basket_on_call(running))
