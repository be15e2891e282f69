"""Careless input at the door and at start-up, answered with a clear reason rather than a wrong status, a silent
misconfiguration or a traceback (found in review, session 25): an upper-case signature; a Slack event no listener
takes (2xx, not a retried 404); /metrics while the store hangs; secrets pasted with quotes or a newline; catalogue
values Python cannot read (a zone that is a folder, a delay past timedelta) at check-config, start and SIGHUP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from bot.app.cli.main import reload_catalogue
from bot.app.config import load_settings
from bot.app.runtime import Bot
from bot.catalogue import example_catalogue_path
from bot.errors import ConfigError
from tests.helpers import WEBHOOK_SECRET, BotClient, incident_event, slack_signed
from tests.web.door_helpers import SLACK_SECRET

GOOD_ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s3cret", "PAGERDUTY_API_TOKEN": "t",
            "PAGERDUTY_WEBHOOK_SECRETS": "old,new"}


# --- PagerDuty's signature -------------------------------------------------------------------------------------------

async def test_a_signature_written_in_uppercase_hex_is_accepted(offline_bot: tuple[Bot, BotClient]) -> None:
    """Hex is case-insensitive: the same HMAC in uppercase digits is the same signature (a proxy or a client library
    that upper-cases it must not turn every delivery into a 401, which PagerDuty counts towards disabling the
    subscription)."""
    _, client = offline_bot
    body = json.dumps(incident_event("incident.triggered", event_id="UPPER")).encode()
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest().upper()
    response = await client.post("/pagerduty/webhook", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": f"v1={digest}"})
    assert response.status == 202, await response.text()


# --- Slack events the bot has no listener for ------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    # Sent to the Request URL by Slack whatever the app subscribes to, when the workspace's events are rate limited.
    {"token": "t", "type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1518467820,
     "api_app_id": "A1"},
    # An event type the bot does not handle (a subscription added in the app's settings, or a new Slack event).
    {"token": "t", "type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": "Ev1",
     "event_time": 1, "event": {"type": "reaction_removed", "user": "U1", "reaction": "eyes",
                                "item": {"type": "message", "channel": "C1", "ts": "1.2"}}},
], ids=["app_rate_limited", "unhandled_event_type"])
async def test_a_slack_event_the_bot_does_not_handle_is_acknowledged_2xx(offline_bot: tuple[Bot, BotClient],
                                                                        body: dict[str, Any]) -> None:
    """Slack retries every event not answered 2xx (three times) and disables the app's event subscriptions when
    most of its deliveries fail; an event nobody listens for is nothing to retry."""
    _, client = offline_bot
    text = json.dumps(body)
    response = await client.post("/slack/events", data=text.encode(), headers={
        "Content-Type": "application/json", **slack_signed(SLACK_SECRET, text)})
    assert 200 <= response.status < 300, (response.status, await response.text())


# --- /metrics while the store does not answer ------------------------------------------------------------------------

async def test_metrics_answer_within_a_time_limit_while_the_store_hangs(offline_bot: tuple[Bot, BotClient],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """/readyz answers within its time limit when the database hangs; /metrics waited for the store without any,
    so the process's own metrics (the ones that would show the outage) were lost with every scrape, and each scrape
    left one more request waiting on the store."""
    bot, client = offline_bot

    async def hangs() -> dict[str, int]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")
    monkeypatch.setattr(bot.store, "depths", hangs)
    response = await asyncio.wait_for(client.get("/metrics"), 15)  # Prometheus' default scrape timeout is 10 s
    assert response.status == 200


# --- Environment variables pasted with quotes or whitespace ----------------------------------------------------------

@pytest.mark.parametrize(("name", "value"), [
    ("SLACK_SIGNING_SECRET", '"s3cret"'),           # pasted from a .env file
    ("SLACK_SIGNING_SECRET", "s3cret\n"),           # a Kubernetes secret made with `echo s3cret | base64`
    ("PAGERDUTY_WEBHOOK_SECRETS", '"old,new"'),     # pasted from a .env file
    ("PAGERDUTY_API_TOKEN", "'t'"),
])
def test_a_secret_with_quotes_or_a_newline_around_it_is_read_without_them_or_refused(name: str, value: str) -> None:
    """A signing secret with quotes (or a trailing newline) around it was taken as it was: check-config said
    "Configuration OK" and then every Slack request (or every PagerDuty delivery) was refused 401 — PagerDuty
    disables the subscription. The `_FILE` form of the same variable strips its value; the variable itself must be
    read the same way, or the problem said at start-up."""
    try:
        settings = load_settings({**GOOD_ENV, name: value})
    except ConfigError as error:
        assert any(name in problem for problem in error.problems), error.problems
        return
    read = {"SLACK_SIGNING_SECRET": settings.slack_signing_secret, "PAGERDUTY_API_TOKEN": settings.pagerduty_api_token,
            "PAGERDUTY_WEBHOOK_SECRETS": ",".join(settings.pagerduty_webhook_secrets)}[name]
    assert read == GOOD_ENV[name], f"{name}={value!r} was accepted as {read!r}"


def test_a_bot_token_in_quotes_is_read_without_them_or_said_to_be_quoted() -> None:
    """`SLACK_BOT_TOKEN="xoxb-…"` was told "does not start with 'xoxb-'; use the Bot User OAuth Token, not a user
    (xoxp-) or app-level token" — wrong advice for a token that is the bot's one, in quotes."""
    try:
        settings = load_settings({**GOOD_ENV, "SLACK_BOT_TOKEN": '"xoxb-1"'})
    except ConfigError as error:
        assert any("quote" in problem for problem in error.problems), error.problems
        return
    assert settings.slack_bot_token == "xoxb-1"


# --- Catalogue values that crash the validation instead of being a problem named ------------------------------------

def catalogue_with(tmp_path: Path, change: str) -> Path:
    data = yaml.safe_load(example_catalogue_path().read_text())
    if change == "time_zone":
        data["rotas"][0]["time_zone"] = "Europe"  # a region, not a zone: 'Europe/London' meant
    else:
        data["channels"]["archive_after"] = "99999999999d"
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize(("change", "field"), [("time_zone", "rotas[0]"), ("archive_after", "channels.archive_after")])
def test_check_config_names_the_field_of_a_catalogue_value_that_cannot_be_read(tmp_path: Path, change: str,
                                                                               field: str) -> None:
    """`time_zone: Europe` (IsADirectoryError inside zoneinfo) and `archive_after: 99999999999d` (OverflowError in
    timedelta) escaped the catalogue's validation: check-config and serve ended with a traceback instead of
    "Configuration has 1 problem(s)" naming the field."""
    path = catalogue_with(tmp_path, change)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_", "CATALOGUE"))},
           **GOOD_ENV, "CATALOGUE_PATH": str(path)}
    result = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "check-config"], env=env,
                            capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert field in result.stderr, result.stderr


@pytest.mark.parametrize("change", ["time_zone", "archive_after"])
async def test_a_sighup_reload_of_such_a_catalogue_keeps_the_running_one_and_says_why(
        tmp_path: Path, change: str, caplog: pytest.LogCaptureFixture) -> None:
    """The SIGHUP reload caught CatalogueError only: this catalogue's error escaped the reload's task, so the log
    never said "not reloaded, keeping the running one" (at best asyncio's "Task exception was never retrieved",
    whenever the task is collected) and whoever sent the signal believes the new catalogue is in force."""
    path = catalogue_with(tmp_path, change)
    caplog.set_level(logging.ERROR)
    try:
        reloaded = await reload_catalogue(cast(Bot, None), path)
    except Exception as error:  # what the SIGHUP task dies of, unseen
        pytest.fail(f"the reload raised {error.__class__.__name__}: {error}")
    assert reloaded is False
    assert any("not reloaded" in record.getMessage() for record in caplog.records)
