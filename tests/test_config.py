"""Configuration: environment and catalogue validated with messages that name the field and the fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.app.cli.main import main
from bot.app.config import load_settings
from bot.catalogue import CatalogueError, Exposure, example_catalogue_path, load_catalogue, parse_catalogue
from bot.errors import ConfigError

GOOD_ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "PAGERDUTY_API_TOKEN": "t",
            "PAGERDUTY_WEBHOOK_SECRETS": " old , new ,"}


def test_good_environment() -> None:
    settings = load_settings(GOOD_ENV)
    assert settings.pagerduty_webhook_secrets == ("old", "new")
    assert settings.port == 3000 and not settings.socket_mode and settings.db_path == Path("pavedroad.db")


def test_every_problem_is_reported_at_once_with_the_fix() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"SLACK_BOT_TOKEN": "xoxp-user", "SLACK_APP_TOKEN": "xoxb-wrong", "PORT": "eighty",
                       "LOG_LEVEL": "loud", "SLACK_API_URL": "slack.com"})
    problems = "\n".join(error.value.problems)
    for expected in ("SLACK_SIGNING_SECRET: not set", "PAGERDUTY_API_TOKEN: not set",
                     "PAGERDUTY_WEBHOOK_SECRETS: not set", "SLACK_BOT_TOKEN: does not start with 'xoxb-'",
                     "SLACK_APP_TOKEN: does not start with 'xapp-'", "PORT: 'eighty' is not a TCP port",
                     "LOG_LEVEL: 'LOUD' is not a logging level", "SLACK_API_URL: 'slack.com' is not an http(s) URL"):
        assert expected in problems


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("xoxb-from-file\n")
    env = {**GOOD_ENV, "SLACK_BOT_TOKEN": "", "SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")}
    assert load_settings(env).slack_bot_token == "xoxb-from-file"
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN_FILE: cannot read"):
        load_settings({**env, "SLACK_BOT_TOKEN_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize("content", ["", "\n", "  \n\n"])
def test_an_empty_secret_file_is_named(tmp_path: Path, content: str) -> None:
    # An empty mounted key said "SLACK_BOT_TOKEN: not set", with no word of the file that was read.
    (tmp_path / "token").write_text(content)
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD_ENV, "SLACK_BOT_TOKEN": "", "SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")})
    assert f"SLACK_BOT_TOKEN_FILE: {str(tmp_path / 'token')!r} is empty; write the value into it, or unset " \
        "SLACK_BOT_TOKEN_FILE" in error.value.problems
    assert not any(problem.startswith("SLACK_BOT_TOKEN: not set") for problem in error.value.problems)


@pytest.mark.parametrize("name", ["PORT", "SLACK_RATE_LIMIT_SCALE", "PAVEDROAD_LEASE_SECONDS"])
def test_a_setting_file_that_cannot_be_read_is_the_one_problem_said(tmp_path: Path, name: str) -> None:
    # "PORT_FILE: cannot read …" came with "PORT: None is not a TCP port", a second problem that was not one.
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD_ENV, f"{name}_FILE": str(tmp_path / "missing")})
    assert error.value.problems == [f"{name}_FILE: cannot read {str(tmp_path / 'missing')!r} (No such file or "
                                    "directory); point it at a readable file"]


def test_a_secret_file_that_is_not_text_is_a_problem_never_printing_its_bytes(tmp_path: Path) -> None:
    # A binary secret mounted by mistake (a keystore, a UTF-16 file) ended check-config and serve in a traceback.
    (tmp_path / "token").write_bytes(b"\xff\xfex\x00o\x00x\x00b\x00")
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD_ENV, "SLACK_BOT_TOKEN": "", "SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")})
    assert f"SLACK_BOT_TOKEN_FILE: {str(tmp_path / 'token')!r} is not UTF-8 text; write the secret into it as " \
        "plain text" in error.value.problems
    assert not any("xff" in problem or "0xff" in problem for problem in error.value.problems)


@pytest.mark.parametrize(("command", "name"), [
    (["migrate"], "PAVEDROAD_DATABASE_URL"), (["inbox", "failed"], "PAVEDROAD_DATABASE_URL"),
    (["report"], "PAVEDROAD_DATABASE_URL"), (["provision", "plan"], "PAGERDUTY_API_TOKEN"),
])
def test_a_secret_file_that_cannot_be_read_is_named_by_every_command(
        command: list[str], name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A secret mounted at another path than its <NAME>_FILE says: `check-config` and `serve` named it, while
    # `migrate` (the Kubernetes migration job), `inbox`, `report` and `provision` ended in a FileNotFoundError.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(f"{name}_FILE", str(tmp_path / "missing"))
    monkeypatch.setenv("PAVEDROAD_PUBLIC_URL", "https://pavedroad.example.com")
    monkeypatch.setenv("CATALOGUE_PATH", str(example_catalogue_path()))
    assert main(command) == 2
    assert f"{name}_FILE: cannot read {str(tmp_path / 'missing')!r} (No such file or directory); point it at a " \
        "readable file" in capsys.readouterr().err


def test_the_example_catalogue_is_valid() -> None:
    catalogue = load_catalogue(example_catalogue_path())
    assert catalogue.announce_channel_for("PCHECKO") == "team-payments"
    assert catalogue.announce_channel_for("PUNKNOWN") == "incidents"
    assert catalogue.stakeholders_channel_for("PSIGNIN") == "customer-updates"  # Customer's own
    assert catalogue.stakeholders_channel_for("PCHECKO") == "incident-updates"
    assert catalogue.stakeholders_channel_for("PUNKNOWN") == "incident-updates"


@pytest.mark.parametrize(("change", "expected"), [
    (lambda c: c["services"][0].update(team="nobody"), "services[0].team: 'nobody' is not a team id"),
    (lambda c: c["teams"][0].update(domain="nowhere"), "teams[0].domain: 'nowhere' is not a domain id"),
    (lambda c: c["services"][1].update(pagerduty_service_id="PBASKET"), "services[1].pagerduty_service_id"),
    (lambda c: c["services"][0].update(exposure="lots"), "services[0].exposure: cannot read exposure 'lots'"),
    (lambda c: c["services"][0].update(colour="red"), "services[0].colour: unknown field"),
    (lambda c: c["channels"].update(pattern="inc-{number}-{oops}"), "unknown field(s) ['oops']"),
    (lambda c: c["services"][0].pop("pagerduty_service_id"), "services[0].pagerduty_service_id: required field"),
    (lambda c: c.update(roles=["communications"]), "roles: the roles must include 'commander'"),
    (lambda c: c.update(roles=["commander", "Scribe Lead"]), "roles: ['Scribe Lead'] are not role names"),
    (lambda c: c.update(roles=["commander", "commander"]), "roles: a role is listed twice"),
    (lambda c: c["status_updates"].update(remind_after=0), "status_updates.remind_after: Input should be greater"),
    (lambda c: c["status_updates"].update(every=5), "status_updates.every: unknown field"),
    (lambda c: c["retention"].update(days=0), "retention.days: Input should be greater than or equal to 1"),
    (lambda c: c["retention"].update(keep="forever"), "retention.keep: unknown field"),
])
def test_catalogue_problems_name_the_field(change: object, expected: str) -> None:
    data = yaml.safe_load(example_catalogue_path().read_text())
    assert callable(change)
    change(data)
    with pytest.raises(CatalogueError) as error:
        parse_catalogue(data, Path("catalogue.yml"))
    assert any(expected in p for p in error.value.problems), error.value.problems


@pytest.mark.parametrize(("text", "amount", "minutes"), [
    ("£500K in 4h", 500_000, 240), ("£750K in 45m", 750_000, 45), ("$1.5M in 2 hours", 1_500_000, 120),
    ("50000 in 7h", 50_000, 420),
])
def test_exposure(text: str, amount: float, minutes: float) -> None:
    exposure = Exposure.parse(text)
    assert (exposure.amount, exposure.window_minutes) == (amount, minutes)


def test_check_config_exits_2_and_lists_problems(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_", "CATALOGUE"))}
    result = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "check-config"], env=env, capture_output=True,
                            text=True, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN: not set" in result.stderr and "catalogue catalogue.yml: file not found" in result.stderr
    ok = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "check-config"], capture_output=True, text=True,
                        env={**env, **GOOD_ENV, "CATALOGUE_PATH": str(example_catalogue_path())}, check=False)
    assert ok.returncode == 0 and "Configuration OK: 12 services" in ok.stdout


@pytest.mark.parametrize("text", ["", "# the catalogue: see bot/example_catalogue.yml\n\n", "teams: []\n"],
                         ids=["empty", "only_comments", "no_services"])
def test_a_catalogue_with_no_services_is_a_configuration_problem(text: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A ConfigMap key mounted empty passed as "Configuration OK: 0 services", and served a bot that pages nobody."""
    path = tmp_path / "catalogue.yml"
    path.write_text(text)
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CATALOGUE_PATH", str(path))
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert f"catalogue {path}: " in err and "at least one service" in err, err
    # serve refuses it the same way, before it listens (a real process: it would otherwise serve)
    served = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "serve", "--db", str(tmp_path / "bot.db")],
                            env={**os.environ, **GOOD_ENV, "CATALOGUE_PATH": str(path)}, capture_output=True,
                            text=True, cwd=tmp_path, timeout=60, check=False)
    assert served.returncode == 2 and f"config: catalogue {path}: " in served.stderr, served.stderr
    assert "at least one service" in served.stderr
    assert not (tmp_path / "bot.db").exists()


def test_check_config_counts_each_catalogue_problem_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Problems found together by one check (every service's team) were one bullet: "1 problem(s)" over three."""
    data = yaml.safe_load(example_catalogue_path().read_text())
    for service in data["services"][:3]:
        service["team"] = "paymnts"
    path = tmp_path / "typo.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CATALOGUE_PATH", str(path))
    assert main(["check-config"]) == 2
    assert capsys.readouterr().err.splitlines() == ["Configuration has 3 problem(s):"] + [
        f"  - catalogue {path}: services[{i}].team: 'paymnts' is not a team id; add it under `teams:` or fix the "
        "spelling" for i in range(3)]


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("PORT", "0", "a whole number from 1 to 65535"),
    ("PORT", "65536", "a whole number from 1 to 65535"),
    ("PORT", "-1", "a whole number from 1 to 65535"),
    ("PORT", "٣٠٠٠", "a whole number from 1 to 65535"),  # int() reads it; the container's health check does not
    ("SLACK_RATE_LIMIT_SCALE", "nan", "a number 0 or more"),
    ("SLACK_RATE_LIMIT_SCALE", "inf", "a number 0 or more"),
    ("SLACK_RATE_LIMIT_SCALE", "-1", "a number 0 or more"),
    ("SLACK_RATE_LIMIT_SCALE", "fast", "a number 0 or more"),
    ("PAVEDROAD_LEASE_SECONDS", "nan", "a number of seconds from 1 to 86,400"),
    ("PAVEDROAD_LEASE_SECONDS", "inf", "a number of seconds from 1 to 86,400"),
    ("PAVEDROAD_LEASE_SECONDS", "0.5", "a number of seconds from 1 to 86,400"),
    ("PAVEDROAD_LEASE_SECONDS", "1e9", "a number of seconds from 1 to 86,400"),
])
def test_a_number_out_of_its_range_is_refused_naming_the_variable_the_value_and_what_is_allowed(
        name: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD_ENV, name: value})
    [problem] = error.value.problems
    assert problem.startswith(f"{name}: {value!r} ") and allowed in problem


def test_numbers_within_their_ranges_are_read() -> None:
    settings = load_settings({**GOOD_ENV, "PORT": "65535", "SLACK_RATE_LIMIT_SCALE": "0",
                              "PAVEDROAD_LEASE_SECONDS": "1.5"})
    assert (settings.port, settings.slack_rate_limit_scale, settings.lease_seconds) == (65535, 0.0, 1.5)


@pytest.mark.parametrize("port", ["0", "70000", "-1", "http"])
def test_serve_refuses_a_port_flag_that_is_no_tcp_port(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", port])
    assert exited.value.code == 2
    assert f"--port: {port!r} is not a TCP port; use a whole number from 1 to 65535" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["70000", "-1", "٣٠٠٠"])
@pytest.mark.parametrize("command", [["sandbox"], ["emulators", "--bot-url", "http://127.0.0.1:3000"]])
def test_the_sandbox_and_emulators_refuse_a_port_flag_that_is_no_tcp_port(
        command: list[str], port: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Before, `sandbox --port 70000` ended in a traceback (OverflowError from bind) instead of a usage error.
    with pytest.raises(SystemExit) as exited:
        main([*command, "--port", port])
    assert exited.value.code == 2
    assert f"--port: {port!r} is not a TCP port; use a whole number from 0 (any free port) to 65535" in \
        capsys.readouterr().err


def test_serve_on_a_port_another_process_holds_says_so_before_starting(tmp_path: Path) -> None:
    # A restart while the old bot still holds its port: the bot started (store, scheduler), then stopped with an
    # OSError traceback from deep inside aiohttp.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_", "CATALOGUE"))}
        result = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "serve", "--port", str(port)],
                                env={**env, **GOOD_ENV, "CATALOGUE_PATH": str(example_catalogue_path()),
                                     "SLACK_API_URL": "http://127.0.0.1:9/", "PAGERDUTY_API_URL": "http://127.0.0.1:9",
                                     "PAVEDROAD_DB": str(tmp_path / "bot.db")},
                                capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert f"pavedroad serve: cannot listen on port {port} (Address already in use): is the bot already running " \
        "here? Stop it, or give this one another port (--port, or PORT)." in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "bot.db").exists()


@pytest.mark.parametrize("bot_url", ["notaurl", "127.0.0.1:3000", "http://127.0.0.1:3000,localhost:3001"])
def test_emulators_refuse_a_bot_url_that_is_no_http_url(bot_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # "127.0.0.1:3000" was taken as it stood: the emulators started, printed `pavedroad serve --port 80`, and every
    # webhook then failed to reach the bot.
    assert main(["emulators", "--port", "0", "--bot-url", bot_url]) == 2
    assert "pavedroad emulators: --bot-url needs http(s) URLs, e.g. http://127.0.0.1:3000; not " in \
        capsys.readouterr().err


@pytest.mark.parametrize("command", [["sandbox"], ["emulators", "--bot-url", "http://127.0.0.1:3000"]])
def test_the_sandbox_and_emulators_name_a_catalogue_they_cannot_read(command: list[str], tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # A CatalogueError traceback before.
    assert main([*command, "--port", "0", "--catalogue", str(tmp_path / "nope.yml")]) == 2
    assert f"pavedroad {command[0]}: catalogue {tmp_path / 'nope.yml'}: file not found: give the path of your " \
        "catalogue YAML file" in capsys.readouterr().err


def test_effect_concurrency_per_outside_system() -> None:
    # The default names every system, so the running dispatcher's limits are those the reference documents.
    assert load_settings(GOOD_ENV).effect_concurrency == {"slack": 8, "servicenow": 8, "pagerduty": 4}
    settings = load_settings({**GOOD_ENV, "PAVEDROAD_EFFECT_CONCURRENCY": " ServiceNow = 16 ,slack=2,"})
    assert settings.effect_concurrency == {"servicenow": 16, "slack": 2}
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD_ENV, "PAVEDROAD_EFFECT_CONCURRENCY": "jira=3,slack=0,pagerduty=many"})
    assert error.value.problems == [
        "PAVEDROAD_EFFECT_CONCURRENCY: 'jira' is not an outside system; name slack, servicenow, pagerduty "
        "(e.g. servicenow=16)",
        "PAVEDROAD_EFFECT_CONCURRENCY: slack's count must be a whole number from 1 to 1000 (e.g. servicenow=16)",
        "PAVEDROAD_EFFECT_CONCURRENCY: pagerduty's count must be a whole number from 1 to 1000 (e.g. servicenow=16)"]


def test_the_applier_runs_inline_unless_a_process_of_its_own_is_asked_for() -> None:
    assert load_settings(GOOD_ENV).applier == "inline"
    assert load_settings({**GOOD_ENV, "PAVEDROAD_APPLIER": " Process "}).applier == "process"
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD_ENV, "PAVEDROAD_APPLIER": "thread"})
    assert error.value.problems == ["PAVEDROAD_APPLIER: 'thread' is neither 'inline' (the worker in the web process) "
                                    "nor 'process' (a process of its own beside it)"]


@pytest.mark.parametrize("secrets", [",", " , ,", ", "])
def test_webhook_secrets_that_list_no_secret_are_refused(secrets: str) -> None:
    # Only commas and spaces passed as "set": the bot started with no secret and answered every PagerDuty delivery 401.
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD_ENV, "PAGERDUTY_WEBHOOK_SECRETS": secrets})
    [problem] = error.value.problems
    assert problem.startswith("PAGERDUTY_WEBHOOK_SECRETS: lists no secret") and \
        "PAGERDUTY_WEBHOOK_SECRETS=old-secret,new-secret" in problem


def test_a_logging_level_problem_names_every_level_accepted() -> None:
    # CRITICAL is accepted, but the problem left it out of the levels it offered.
    assert load_settings({**GOOD_ENV, "LOG_LEVEL": "critical"}).log_level == "CRITICAL"
    with pytest.raises(ConfigError) as error:
        load_settings({**GOOD_ENV, "LOG_LEVEL": "warn"})
    assert error.value.problems == ["LOG_LEVEL: 'WARN' is not a logging level; use DEBUG, INFO, WARNING, ERROR or "
                                    "CRITICAL"]


@pytest.mark.parametrize("name", ["SLACK_API_URL", "PAGERDUTY_API_URL", "SERVICENOW_INSTANCE_URL"])
def test_a_url_without_its_scheme_is_refused_with_how_to_write_it(name: str) -> None:
    # "localhost:3001/sandbox/slack/api/" was refused as "not an http(s) URL", without saying what to write instead.
    env = {**GOOD_ENV, name: "localhost:3001/x", "SERVICENOW_USERNAME": "u", "SERVICENOW_PASSWORD": "p",
           "SERVICENOW_WEBHOOK_SECRET": "w"}
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    [problem] = error.value.problems
    example = {"SLACK_API_URL": "http://localhost:3000/sandbox/slack/api/",
               "PAGERDUTY_API_URL": "http://localhost:3000/sandbox/pagerduty/api",
               "SERVICENOW_INSTANCE_URL": "https://acme.service-now.com"}[name]
    assert problem == f"{name}: 'localhost:3001/x' is not an http(s) URL; write it with its scheme, e.g. " \
        f"{name}={example}"


def test_the_reference_says_which_servicenow_variables_the_instance_url_requires() -> None:
    # load_settings refuses SERVICENOW_INSTANCE_URL without these three, but the reference did not say so.
    from bot.app.config import reference_table
    rows = {row.split(" | ")[0].strip("| `"): row for row in reference_table().splitlines()[2:]}
    for name in ("SERVICENOW_USERNAME", "SERVICENOW_PASSWORD", "SERVICENOW_WEBHOOK_SECRET"):
        assert "**Required** with `SERVICENOW_INSTANCE_URL`." in rows[name], name
        with pytest.raises(ConfigError) as error:
            load_settings({**GOOD_ENV, "SERVICENOW_INSTANCE_URL": "https://acme.service-now.com",
                           **{other: "x" for other in ("SERVICENOW_USERNAME", "SERVICENOW_PASSWORD",
                                                       "SERVICENOW_WEBHOOK_SECRET") if other != name}})
        assert [p.split(":")[0] for p in error.value.problems] == [name]
    assert "SERVICENOW_USERNAME" in rows["SERVICENOW_PASSWORD"]  # whose password: not "That user's"
