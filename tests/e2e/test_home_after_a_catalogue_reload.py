"""The App Home follows a reloaded catalogue (SIGHUP, `reload_catalogue`), as handovers do: a person a reload puts
on a rota's team has their Home refreshed at that rota's shift change, and it lists the rota. The Home used to keep
the catalogue it started with: the handover asked it to refresh the rota's Homes, and it refreshed the people of
the old catalogue (not her), with the old catalogue's rotas (not Basket) in it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from bot.app.cli.main import reload_catalogue
from bot.catalogue import Catalogue
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, move_clock, open_home, slack_user, state
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"


def basket_lines(running: RunningSandbox) -> list[str]:
    """The Basket lines of Asha's Home as last published."""
    view = state(running)["slack"]["home_views"][slack_user(running, ASHA)]
    text = "\n".join(str(b.get("text", {}).get("text", "")) for b in view["blocks"])
    return [line for line in text.splitlines() if line.startswith("*Basket (working hours)*")]


def with_asha_on_basket(catalogue: Catalogue, on: bool) -> Catalogue:
    """Basket's rota alone (no other rota's handover at 17:30 refreshes Asha's Home by the way), with Asha on the
    Basket team or not."""
    teams = [t if t.id != "basket" else t.model_copy(update={"members": [m for m in t.members if on or m != ASHA]})
             for t in catalogue.teams]
    return catalogue.model_copy(update={"rotas": [r for r in catalogue.rotas if r.id == "basket"], "teams": teams})


async def test_a_reload_putting_someone_on_a_rota_refreshes_their_home_at_its_shift_change(
        start_sandbox: StartSandbox, catalogue: Catalogue, tmp_path: Path) -> None:
    running = await start_sandbox(with_asha_on_basket(catalogue, on=False),
                                  at=datetime(2026, 11, 27, 17, 0, tzinfo=UTC))
    await open_home(running, ASHA)
    assert basket_lines(running) == []  # not hers yet
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump(with_asha_on_basket(catalogue, on=True).model_dump(mode="json", exclude_none=True),
                                   allow_unicode=True))
    assert await reload_catalogue(running.bot, path)
    await move_clock(running, to="2026-11-27T17:30:05+00:00")  # Basket's out-of-hours: nobody takes over
    await eventually(lambda: any("nobody" in line for line in basket_lines(running)))
