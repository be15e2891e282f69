"""The sandbox's secrets are read as the bot reads its own (bot/app/config.py `given`): from the variable, or from the
file its `<NAME>_FILE` names (README, 'Configuration reference'), so a newcomer's mounted secrets are the ones the
emulators sign and check with."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from sandbox.world import SandboxSecrets


def test_the_secrets_the_sandbox_takes_from_its_environment_may_be_files(tmp_path: Path) -> None:
    # Before: only the variables themselves were read; SLACK_SIGNING_SECRET_FILE was ignored and a secret generated,
    # so deliveries signed with the file's secret (captured ones, replayed) were refused.
    env = {}
    for name, value in {"SLACK_SIGNING_SECRET": "signing", "PAGERDUTY_WEBHOOK_SECRETS": "old, new",
                        "SERVICENOW_WEBHOOK_SECRET": "desk"}.items():
        (tmp_path / name).write_text(value + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    keys = SandboxSecrets.from_env(env)
    assert keys.slack_signing_secret == "signing"
    assert keys.pagerduty_webhook_secrets == ("old", "new")
    assert keys.servicenow_webhook_secret == "desk"
    assert keys.slack_bot_token.startswith("xoxb-sandbox-")  # the sandbox's own bot: generated, whatever is set


def test_the_emulators_take_the_credentials_too_and_the_variable_wins_over_its_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("xoxb-from-a-file")
    (tmp_path / "password").write_text("from-a-file")
    env = {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "token"), "SERVICENOW_PASSWORD": "from-the-variable",
           "SERVICENOW_PASSWORD_FILE": str(tmp_path / "password")}
    keys = SandboxSecrets.from_env(env, credentials=True)
    assert (keys.slack_bot_token, keys.servicenow_password) == ("xoxb-from-a-file", "from-the-variable")
    assert keys.pagerduty_api_token.startswith("sandbox-")


def test_a_secret_file_that_cannot_be_read_is_the_bots_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET_FILE: cannot read"):
        SandboxSecrets.from_env({"SLACK_SIGNING_SECRET_FILE": str(tmp_path / "missing")})
