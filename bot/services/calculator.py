"""The availability calculator over a catalogue: each service's exposure band, availability target, error budget
and on-call cover, as rows (`service_coverage`), for `pavedroad calculate` and `/incident service <name>`; and what
an incident of a service puts at stake (`incident_exposure`).

The rules themselves are pure and live in `bot/domain/exposure.py` (bands, matching, error budget, loss) and
`bot/domain/coverage.py` (which rota covers a service); this module feeds them the catalogue, and
`bot/render/calculator.py` words the result (table, CSV, JSON, Slack).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from bot.catalogue import Catalogue, CatalogueError, Service, example_catalogue_path, load_catalogue
from bot.domain.coverage import CoverageRow, RotaFacts, ServiceFacts, coverage
from bot.domain.exposure import IncidentExposure
from bot.errors import UserError
from bot.render.calculator import Format, render, service_summary
from bot.render.format import clip, escape


def service_coverage(catalogue: Catalogue, services: list[Service] | None = None) -> list[CoverageRow]:
    """The calculator's rows for `services` (default: every service in the catalogue, in its order)."""
    facts = []
    for s in catalogue.services if services is None else services:
        team = catalogue.team(s.team)
        facts.append(ServiceFacts(s.id, s.name, s.team, team.domain if team else None,
                                  s.exposure.amount if s.exposure else None,
                                  s.exposure.window_minutes if s.exposure else None))
    rotas = [RotaFacts(r.id, r.team, r.domain, r.out_of_hours) for r in catalogue.rotas]
    return coverage(facts, [b.band() for b in catalogue.exposure_bands], rotas)


def incident_exposure(catalogue: Catalogue, pagerduty_service_id: str) -> IncidentExposure | None:
    """What an incident on this PagerDuty service puts at stake; None for a service with no declared exposure."""
    service = catalogue.service_by_pagerduty_id(pagerduty_service_id)
    match = catalogue.band_of(service) if service else None
    if service is None or service.exposure is None or match is None:
        return None
    return IncidentExposure(catalogue.currency, service.exposure.amount, match.band.window_minutes,
                            match.band.name, match.above_highest)


# -- finding a service by name -----------------------------------------------------------------------------------

def find_service(catalogue: Catalogue, name: str) -> Service:
    """The service called `name` (its id, name or PagerDuty service id, any case), or a UserError naming the
    closest ones."""
    wanted = " ".join(name.split()).lower()
    if not wanted:
        raise UserError("Which service? `/incident service <name>`, e.g. " + _examples(catalogue) + ".")
    for service in catalogue.services:
        if wanted in (service.id.lower(), service.name.lower(), service.pagerduty_service_id.lower()):
            return service
    keys = {k.lower(): s.id for s in catalogue.services for k in (s.id, s.name)}
    close = difflib.get_close_matches(wanted, list(keys), n=5, cutoff=0.6)
    close += [k for k in keys if wanted in k]  # "basket" finds "basket-api" and "basket-recommendations"
    suggestions = list(dict.fromkeys(keys[k] for k in close))[:5]
    hint = ("Did you mean " + ", ".join(f"`{sid}`" for sid in suggestions) + "?") if suggestions else \
        "Services in the catalogue: " + _examples(catalogue, limit=len(catalogue.services)) + "."
    # What was typed, shown back as typed (Slack sends it escaped), escaped again, short, with no backtick to end
    # the code early: never a mention or a link of the sender's making.
    readable = " ".join(name.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split())
    shown = escape(clip(readable, 100)).replace("`", "'")
    raise UserError(f"I don't know a service called `{shown}`. {hint}")


def _examples(catalogue: Catalogue, limit: int = 3) -> str:
    return ", ".join(f"`{s.id}`" for s in catalogue.services[:limit]) or "(the catalogue has no services)"


def describe_service(catalogue: Catalogue, service: Service) -> str:
    """`/incident service <name>`: the service's band, target, error budget and who covers it, for Slack."""
    [row] = service_coverage(catalogue, [service])
    return service_summary(catalogue, service, row)


def run_calculate(path: Path | None, fmt: Format, *, check: bool = False) -> int:
    """`pavedroad calculate`: print the calculator's rows for the catalogue at `path` (None: the bundled example).
    Exit 2 for a catalogue that does not load, 1 with `--check` when a service is flagged, else 0."""
    if path is None:  # neither --catalogue nor CATALOGUE_PATH (the CLI reads it, and CATALOGUE_PATH_FILE)
        path = example_catalogue_path()
        print(f"(the bundled example catalogue, {path}: give yours with --catalogue or CATALOGUE_PATH)",
              file=sys.stderr)
    try:
        catalogue = load_catalogue(path)
    except CatalogueError as error:
        # The file at fault: the one `extends:` names when that is where the problem is, not always `path`.
        print(f"Catalogue {error.path} has {len(error.problems)} problem(s):", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    rows = service_coverage(catalogue)
    print(render(catalogue, rows, fmt))
    return 1 if check and any(r.problems for r in rows) else 0
