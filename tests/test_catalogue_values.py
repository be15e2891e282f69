"""Catalogue values that cannot work are refused when the catalogue loads (`check-config`, `serve`), each in one
plain line naming the field and the fix: a Slack channel that is no channel name, an empty escalation policy id (it
passed, and `/incident page-im` then failed with PagerDuty's "Invalid Input Provided"), and the words of pydantic
("literal['all','high_urgency']", a regex, "unable to interpret input") said as what to write instead."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.catalogue import CatalogueError, example_catalogue_path, load_catalogue, parse_catalogue, seed_catalogue_path

ROOT = Path(__file__).resolve().parent.parent


def problems_of(change: Callable[[dict[str, Any]], object]) -> list[str]:
    data = yaml.safe_load(example_catalogue_path().read_text())
    change(data)
    with pytest.raises(CatalogueError) as error:
        parse_catalogue(data, Path("catalogue.yml"))
    return error.value.problems


@pytest.mark.parametrize(("change", "expected"), [
    (lambda c: c["teams"][0].update(slack_channel="#Team Payments"),
     "teams[0].slack_channel: '#Team Payments' is not a Slack channel name: Slack's are lower case, with no spaces, "
     "at most 80 letters, digits, '-' and '_'; write 'team-payments'"),
    (lambda c: c["teams"][0].update(slack_channel="x" * 81),
     f"teams[0].slack_channel: '{'x' * 81}' is not a Slack channel name"),
    (lambda c: c["domains"][0].update(slack_channel="Retail OnCall"),
     "domains[0].slack_channel: 'Retail OnCall' is not a Slack channel name"),
    (lambda c: c["domains"][0].update(stakeholders_channel="retail updates"),
     "domains[0].stakeholders_channel: 'retail updates' is not a Slack channel name"),
    (lambda c: c["rotas"][0].update(slack_channel=""), "rotas[0].slack_channel: empty: name the Slack channel"),
    (lambda c: c["channels"].update(default_announce_channel=""),
     "channels.default_announce_channel: empty: name the Slack channel, e.g. 'incidents'"),
    (lambda c: c["channels"].update(operators_channel=""),
     "channels.operators_channel: empty: name the Slack channel, e.g. 'paved-road-ops'"),
    (lambda c: c["channels"].update(stakeholders="Incident Updates"),
     "channels.stakeholders: 'Incident Updates' is not a Slack channel name"),
    (lambda c: c["incident_manager"].update(escalation_policy_id=""),
     "incident_manager.escalation_policy_id: empty: give the incident managers' PagerDuty escalation policy id"),
    (lambda c: c["incident_manager"].update(escalation_policy_id="https://acme.pagerduty.com/escalation_policies/PX1"),
     "incident_manager.escalation_policy_id: 'https://acme.pagerduty.com/escalation_policies/PX1' is not a "
     "PagerDuty id"),
    (lambda c: c["services"][0].update(pagerduty_service_id=" "),
     "services[0].pagerduty_service_id: empty: give the service's PagerDuty id (e.g. 'PBASKET', the end of its "
     "address in PagerDuty), or a placeholder such as 'new-basket' for `pavedroad provision` to create it"),
    (lambda c: c["rotas"][0].update(pagerduty_schedule_ids=["PSCHED1", ""]),
     "rotas[0].pagerduty_schedule_ids[1]: empty: give the schedule's PagerDuty id (e.g. 'PSCHED1', the end of its "
     "address in PagerDuty)"),
    (lambda c: c["channels"].update(dedicated_channel_for="some"),
     "channels.dedicated_channel_for: 'some' is not allowed: write all, high_urgency, or a list of priorities, "
     "e.g. [P1, P2]"),
    (lambda c: c["channels"].update(dedicated_channel_for=["P1", 2]),
     "channels.dedicated_channel_for: ['P1', 2] is not allowed: write all, high_urgency, or a list of priorities"),
    (lambda c: c["timeline"].update(reaction=":pushpin:"),
     "timeline.reaction: ':pushpin:' is not an emoji name: write the emoji's name without colons, e.g. pushpin"),
    (lambda c: c["timeline"].update(reaction="Push Pin"), "timeline.reaction: 'Push Pin' is not an emoji name"),
    (lambda c: c["review"].update(on_resolve="maybe"),
     "review.on_resolve: 'maybe' is not true or false: write true or false"),
    (lambda c: c["rotas"][0].update(out_of_hours="sometimes"),
     "rotas[0].out_of_hours: 'sometimes' is not true or false: write true or false"),
    # Found in review: an empty close code loaded, and every resolve was refused by ServiceNow's data policy (the
    # ticket open for good); one over the column's 40 characters was cut to a code no instance has.
    (lambda c: c["servicenow"].update(merged_close_code=" "),
     "servicenow.merged_close_code: empty: give one of your instance's incident close codes"),
    (lambda c: c["servicenow"].update(close_code=""),
     "servicenow.close_code: empty: give one of your instance's incident close codes"),
    (lambda c: c["servicenow"].update(merged_close_code="Closed as a duplicate of another PagerDuty incident"),
     "servicenow.merged_close_code: 'Closed as a duplicate of another PagerDuty incident' is longer than "
     "ServiceNow's close_code column (40 characters)"),
])
def test_a_value_that_cannot_work_is_refused_in_one_plain_line(change: Callable[[dict[str, Any]], object],
                                                               expected: str) -> None:
    problems = problems_of(change)
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    assert "Input should" not in problems[0] and "pattern" not in problems[0] and "literal[" not in problems[0]


@pytest.mark.parametrize(("field", "value"), [
    ("slack_channel", "team-payments"), ("slack_channel", "#team-payments"), ("slack_channel", "C0123ABCD"),
    ("slack_channel", "équipe_paiements-2"), ("slack_channel", "x" * 80), ("slack_channel", None),
])
def test_slack_channel_names_and_ids_the_bot_can_post_to_are_accepted(field: str, value: str | None) -> None:
    data = yaml.safe_load(example_catalogue_path().read_text())
    data["teams"][0][field] = value
    assert parse_catalogue(data, Path("catalogue.yml")).teams[0].slack_channel == value


@pytest.mark.parametrize("value", ["all", "high_urgency", [], ["P1", "P2"]])
def test_dedicated_channel_for_takes_what_the_readme_says(value: object) -> None:
    data = yaml.safe_load(example_catalogue_path().read_text())
    data["channels"]["dedicated_channel_for"] = value
    assert parse_catalogue(data, Path("catalogue.yml")).channels.dedicated_channel_for == value


def test_every_catalogue_in_the_repository_still_loads() -> None:
    # What `grep -rl "services:" --include=*.yml .` lists: the bundled, deployment and fixture catalogues.
    found = [p for p in ROOT.rglob("*.yml") if not any(part.startswith(".") or part == "node_modules"
                                                         for part in p.relative_to(ROOT).parts)]
    catalogues = [p for p in found if "\nservices:" in p.read_text(encoding="utf-8")]
    assert example_catalogue_path() in catalogues and seed_catalogue_path() in catalogues
    for path in catalogues:
        assert load_catalogue(path).services, path


def test_check_config_says_the_channel_problem_in_one_line(tmp_path: Path) -> None:
    data = yaml.safe_load(example_catalogue_path().read_text())
    data["teams"][0]["slack_channel"] = "#Team Payments"
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
           "PAGERDUTY_API_TOKEN": "t", "PAGERDUTY_WEBHOOK_SECRETS": "w", "CATALOGUE_PATH": str(path)}
    result = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "check-config"], env=env, capture_output=True,
                            text=True, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["Configuration has 1 problem(s):", f"  - catalogue {path}: teams[0]."
                                          "slack_channel: '#Team Payments' is not a Slack channel name: Slack's are "
                                          "lower case, with no spaces, at most 80 letters, digits, '-' and '_'; "
                                          "write 'team-payments'"]


def test_an_id_listed_twice_names_both_positions() -> None:
    """Found in review: two teams, services or domains of one id were silently merged (the second took the first's
    place in provisioning); each repeat is refused, naming where the id was first, so either can be fixed."""
    data = yaml.safe_load(example_catalogue_path().read_text())
    sections = ("domains", "teams", "services", "rotas")
    last = {section: len(data[section]) for section in sections}
    problems = problems_of(lambda c: [c[section].append(dict(c[section][0])) for section in sections])
    first = {section: data[section][0]["id"] for section in sections}
    for section in ("domains", "teams", "services"):
        assert f"{section}[{last[section]}].id: {first[section]!r} is also {section}[0]'s id; two {section} with " \
               "one id become one in PagerDuty, the second replacing the first: give each its own id" in problems
    assert f"rotas[{last['rotas']}].id: {first['rotas']!r} is also rotas[0]'s id; rota ids must be unique" in problems
    service_id = data["services"][0]["pagerduty_service_id"]
    assert f"services[{last['services']}].pagerduty_service_id: {service_id!r} is also services[0]'s " \
           "pagerduty_service_id; each PagerDuty service belongs to one catalogue service" in problems
