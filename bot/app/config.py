"""Settings from the environment, validated at start-up: every problem names the variable and the fix.

Secrets come only from the environment (or a file named by `<NAME>_FILE`) and are never printed: `describe()`
masks them. The platform's catalogue is a separate YAML file (bot/catalogue.py), named by CATALOGUE_PATH.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import ConfigError


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None
    example: str
    help: str
    secret: bool = False
    required_for_serve: bool = False
    # Required when this other variable is set (ServiceNow's user, password and webhook secret with its instance).
    required_with: str | None = None


# The configuration reference. The README's table is generated from this list (`pavedroad check-config --reference`).
VARIABLES: tuple[Variable, ...] = (
    Variable("SLACK_BOT_TOKEN", None, "xoxb-…", "Bot token of the Slack app (OAuth & Permissions page).",
             secret=True, required_for_serve=True),
    Variable("SLACK_SIGNING_SECRET", None, "8f14e45f…", "Signing secret (Basic Information page); verifies "
             "requests from Slack.", secret=True, required_for_serve=True),
    Variable("SLACK_APP_TOKEN", None, "xapp-…", "App-level token with connections:write. Set it to use Socket Mode "
             "instead of the HTTP endpoint /slack/events.", secret=True),
    Variable("SLACK_API_URL", None, "http://localhost:3000/sandbox/slack/api/", "Slack Web API base URL; set only "
             "to point at the sandbox emulators."),
    Variable("SLACK_RATE_LIMIT_SCALE", "1", "1", "Multiplies Slack's per-method rate limits the bot paces itself "
             "to (a number 0 or more); 0 turns pacing off (emulator tests)."),
    Variable("PAGERDUTY_API_TOKEN", None, "u+AbC…", "PagerDuty REST API key (account-level; actions from Slack are "
             "attributed with the From header).", secret=True, required_for_serve=True),
    Variable("PAGERDUTY_WEBHOOK_SECRETS", None, "old-secret,new-secret", "Comma-separated v3 webhook "
             "subscription secrets; a delivery signed with any of them is accepted (rotation).", secret=True,
             required_for_serve=True),
    Variable("PAGERDUTY_API_URL", None, "http://localhost:3000/sandbox/pagerduty/api", "PagerDuty REST API base "
             "URL; set only for the EU service region or the sandbox."),
    Variable("SERVICENOW_INSTANCE_URL", None, "https://acme.service-now.com", "ServiceNow instance; set it to keep "
             "one ticket per incident in step (unset: no ServiceNow sync)."),
    Variable("SERVICENOW_USERNAME", None, "pavedroad.integration", "ServiceNow integration user (Table API, basic "
             "auth; needs the itil role). Its own updates are recognised and never echoed back.",
             required_with="SERVICENOW_INSTANCE_URL"),
    Variable("SERVICENOW_PREVIOUS_USERNAMES", None, "pavedroad.old", "Comma-separated ServiceNow user IDs the bot "
             "used before SERVICENOW_USERNAME (set it when the integration user is replaced): the journal entries they "
             "wrote still count as the bot's own, so the notes it wrote as them are not written again and the "
             "channel names they told stay known (README, 'ServiceNow')."),
    Variable("SERVICENOW_PASSWORD", None, "…", "The password of the ServiceNow integration user "
             "(SERVICENOW_USERNAME).", secret=True, required_with="SERVICENOW_INSTANCE_URL"),
    Variable("SERVICENOW_WEBHOOK_SECRET", None, "…", "Shared secret the ServiceNow business rule signs "
             "POST /servicenow/webhook with (HMAC-SHA256 of the body; see README): a random string you make, also "
             "set as the instance's pavedroad.servicenow.webhook_secret property.", secret=True,
             required_with="SERVICENOW_INSTANCE_URL"),
    Variable("CATALOGUE_PATH", "catalogue.yml", "/etc/pavedroad/catalogue.yml", "The platform catalogue YAML "
             "(teams, services, channels); see bot/example_catalogue.yml for a complete example."),
    Variable("PAVEDROAD_DB", "pavedroad.db", "/var/lib/pavedroad/pavedroad.db", "SQLite database file (inbox, "
             "outbox, incidents). Keep it on a persistent disk. A file holding another application's tables is "
             "refused by `serve` and `migrate`, untouched."),
    Variable("PAVEDROAD_DATABASE_URL", None, "postgresql://pavedroad@db.internal:5432/pavedroad", "PostgreSQL "
             "instead of SQLite, for two or more replicas (README, 'Running at scale'); unset: SQLite at "
             "PAVEDROAD_DB. A password may be in the URL (or use PAVEDROAD_DATABASE_URL_FILE); it is never printed.",
             secret=True),
    Variable("PAVEDROAD_LEASE_SECONDS", "60", "30", "How long a replica holds an effect it is performing (renewed "
             "while it runs): a replica that dies mid-effect has it taken over by another after at most this long. "
             "1 to 86,400 seconds."),
    Variable("PAVEDROAD_EFFECT_CONCURRENCY", "slack=8,servicenow=8,pagerduty=4", "servicenow=16",
             "Effects performed at once per outside system (comma-separated system=count; a system not named keeps "
             "its default). Each system has its own: Slack effects waiting for Slack's rate budget never hold up "
             "ServiceNow tickets or PagerDuty calls."),
    Variable("PAVEDROAD_APPLIER", "inline", "process", "Where the worker applies stored events: `inline` in the "
             "web process, or `process`, a child process of `serve` on its own store connection, so that a burst is "
             "stored and applied on two cores (README, 'Bursts: the applier in a process of its own')."),
    Variable("PORT", "3000", "8080", "HTTP port (1 to 65535) for /pagerduty/webhook, /servicenow/webhook, "
             "/slack/events, /healthz, /readyz, /metrics."),
    Variable("LOG_LEVEL", "INFO", "DEBUG", "Python logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    Variable("PAVEDROAD_PUBLIC_URL", None, "https://pavedroad.example.com", "The bot's public base URL. "
             "`pavedroad provision` subscribes each service's PagerDuty webhooks to <url>/pagerduty/webhook."),
)
_BY_NAME = {v.name: v for v in VARIABLES}
DATABASE_SCHEMES = ("postgresql://", "postgres://")
APPLIERS = ("inline", "process")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A lease longer than a day would leave a dead replica's effects undone for longer than anyone would wait.
LONGEST_LEASE_SECONDS = 86_400


@dataclass(frozen=True)
class ServiceNowAccess:
    """Where and as whom the bot talks to ServiceNow, and the secret ServiceNow signs its webhooks with."""

    instance_url: str
    username: str
    password: str
    webhook_secret: str | None
    # The integration users the bot was before `username` (a replaced user): their journal entries are its own too.
    previous_usernames: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str
    slack_app_token: str | None
    slack_api_url: str | None
    slack_rate_limit_scale: float
    pagerduty_api_token: str
    pagerduty_webhook_secrets: tuple[str, ...]
    pagerduty_api_url: str | None
    catalogue_path: Path
    db_path: Path
    port: int
    log_level: str
    servicenow: ServiceNowAccess | None = None
    # PostgreSQL (PAVEDROAD_DATABASE_URL); None: SQLite at db_path.
    database_url: str | None = None
    lease_seconds: float = 60.0
    # Effects at once per outside system (the dispatcher's lanes); a system not named keeps the dispatcher's default.
    effect_concurrency: Mapping[str, int] = field(default_factory=dict)
    # PAVEDROAD_APPLIER: "inline" (the worker in the web process) or "process" (its own, bot/app/applier.py).
    applier: str = "inline"

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)


def read(env: Mapping[str, str], name: str) -> str | None:
    """A variable's value: from the environment, or from the file named by NAME_FILE (for mounted secrets), else
    its default. ConfigError naming NAME_FILE when that file cannot be read: every command's caller reports a
    ConfigError."""
    value = given(env, name)
    if not value:
        value = _BY_NAME[name].default if name in _BY_NAME else None
    return value or None


# A value a .env file or a shell put in quotes: docker's --env-file and Kubernetes keep them as part of the value.
_QUOTED = re.compile(r"""^(["']).*\1$""", re.S)


def given(env: Mapping[str, str], name: str) -> str | None:
    """A variable's value as the operator gave it — in the environment, or in the file NAME_FILE names — or None
    (no default): for the commands whose fallback is not the variable's default (`report`'s catalogue)."""
    value = env.get(name)
    if not value and (file := env.get(f"{name}_FILE")):
        try:
            value = Path(file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError([f"{name}_FILE: cannot read {file!r} ({error.strerror}); point it at a readable "
                               "file"]) from None
        except UnicodeDecodeError:  # what it holds is a secret: never shown, not even a byte of it
            raise ConfigError([f"{name}_FILE: {file!r} is not UTF-8 text; write the secret into it as plain "
                               "text"]) from None
        if not value:  # a mounted secret whose key is empty: "NAME: not set" would send them to the wrong place
            raise ConfigError([f"{name}_FILE: {file!r} is empty; write the value into it, or unset {name}_FILE"])
    # A trailing newline (a Kubernetes secret made with `echo … | base64`) or spaces are never part of a value; the
    # bot would sign and compare with them and refuse every request, while check-config said all was well.
    value = (value or "").strip()
    if len(value) >= 2 and _QUOTED.match(value):
        raise ConfigError([f"{name}: its value is in quotes ({value[0]}…{value[0]}); remove them — docker's "
                           "--env-file and Kubernetes keep quotes as part of the value"])
    return value or None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate; raise ConfigError listing every problem at once."""
    env = os.environ if env is None else env
    problems: list[str] = []
    values: dict[str, str | None] = {}
    for variable in VARIABLES:
        try:
            values[variable.name] = read(env, variable.name)
        except ConfigError as error:  # its file cannot be read, or is empty: that problem alone, naming the file
            problems.extend(error.problems)
            # Its default stands in, so the checks below do not add "PORT: None is not a TCP port" to it.
            values[variable.name] = variable.default or None
            continue
        if variable.required_for_serve and not values[variable.name]:
            problems.append(f"{variable.name}: not set. {variable.help} Example: {variable.name}={variable.example}")
    token = values["SLACK_BOT_TOKEN"]
    if token and not token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN: does not start with 'xoxb-'; use the *Bot* User OAuth Token, "
                        "not a user (xoxp-) or app-level (xapp-) token")
    app_token = values["SLACK_APP_TOKEN"]
    if app_token and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN: does not start with 'xapp-'; create an app-level token with "
                        "connections:write (Basic Information → App-Level Tokens), or unset it for HTTP mode")
    port = tcp_port(values["PORT"] or "")
    if port is None:
        problems.append(f"PORT: {values['PORT']!r} is not a TCP port; use a whole number from 1 to 65535, such as "
                        "3000 (the Service and the container's health check reach the bot there)")
    scale = _number(values["SLACK_RATE_LIMIT_SCALE"], "SLACK_RATE_LIMIT_SCALE", problems, at_least=0,
                    allowed="a number 0 or more, such as 1 (Slack's own limits; 0 turns pacing off)")
    lease = _number(values["PAVEDROAD_LEASE_SECONDS"], "PAVEDROAD_LEASE_SECONDS", problems, at_least=1,
                    at_most=LONGEST_LEASE_SECONDS, allowed=f"a number of seconds from 1 to {LONGEST_LEASE_SECONDS:,}, "
                    "such as 60 (a dead replica's effects wait this long before another takes them over)")
    concurrency = effect_concurrency(values["PAVEDROAD_EFFECT_CONCURRENCY"] or "", problems)
    secrets = tuple(s.strip() for s in (values["PAGERDUTY_WEBHOOK_SECRETS"] or "").split(",") if s.strip())
    if values["PAGERDUTY_WEBHOOK_SECRETS"] and not secrets:  # only commas and spaces: every delivery would be a 401
        hooks = _BY_NAME["PAGERDUTY_WEBHOOK_SECRETS"]
        problems.append(f"{hooks.name}: lists no secret, only commas or spaces. {hooks.help} "
                        f"Example: {hooks.name}={hooks.example}")
    level = (values["LOG_LEVEL"] or "INFO").upper()
    if level not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL: {level!r} is not a logging level; use {', '.join(LOG_LEVELS[:-1])} or "
                        f"{LOG_LEVELS[-1]}")
    applier = (values["PAVEDROAD_APPLIER"] or "").strip().lower() or "inline"  # blank: as if unset
    if applier not in APPLIERS:
        problems.append(f"PAVEDROAD_APPLIER: {values['PAVEDROAD_APPLIER']!r} is neither 'inline' (the worker in "
                        "the web process) nor 'process' (a process of its own beside it)")
    database_url = values["PAVEDROAD_DATABASE_URL"]
    if database_url and not database_url.startswith(DATABASE_SCHEMES):
        # The value is not echoed: it may hold a password.
        problems.append("PAVEDROAD_DATABASE_URL: not a PostgreSQL URL; write it as "
                        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to use SQLite (PAVEDROAD_DB)")
    for url_name in ("SLACK_API_URL", "PAGERDUTY_API_URL", "SERVICENOW_INSTANCE_URL"):
        url = values[url_name]
        if url and not url.startswith(("http://", "https://")):
            problems.append(f"{url_name}: {url!r} is not an http(s) URL; write it with its scheme, e.g. "
                            f"{url_name}={_BY_NAME[url_name].example}")
    servicenow = None
    if values["SERVICENOW_INSTANCE_URL"]:
        for variable in VARIABLES:
            if variable.required_with == "SERVICENOW_INSTANCE_URL" and not values[variable.name]:
                problems.append(f"{variable.name}: not set, but SERVICENOW_INSTANCE_URL is. {variable.help} "
                                "Or unset SERVICENOW_INSTANCE_URL to run without ServiceNow.")
        previous = tuple(u.strip() for u in (values["SERVICENOW_PREVIOUS_USERNAMES"] or "").split(",") if u.strip())
        servicenow = ServiceNowAccess(values["SERVICENOW_INSTANCE_URL"].rstrip("/"),
                                      values["SERVICENOW_USERNAME"] or "", values["SERVICENOW_PASSWORD"] or "",
                                      values["SERVICENOW_WEBHOOK_SECRET"], previous)
    if problems:
        raise ConfigError(problems)
    return Settings(
        slack_bot_token=token or "", slack_signing_secret=values["SLACK_SIGNING_SECRET"] or "",
        slack_app_token=app_token, slack_api_url=values["SLACK_API_URL"], slack_rate_limit_scale=scale or 0.0,
        pagerduty_api_token=values["PAGERDUTY_API_TOKEN"] or "", pagerduty_webhook_secrets=secrets,
        pagerduty_api_url=values["PAGERDUTY_API_URL"], catalogue_path=Path(values["CATALOGUE_PATH"] or ""),
        db_path=Path(values["PAVEDROAD_DB"] or ""), port=port or 0, log_level=level, servicenow=servicenow,
        database_url=database_url,
        lease_seconds=lease or 60.0, effect_concurrency=concurrency, applier=applier,
    )


def effect_concurrency(text: str, problems: list[str]) -> dict[str, int]:
    """`slack=8,servicenow=16`: effects at once per outside system (the dispatcher's lanes); a problem for each part
    that names no system or no count of at least 1."""
    from bot.domain.effects import LANES  # here: the CLI's other commands (report, migrate) start without the effects

    chosen: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        system, _, count = (piece.strip() for piece in part.partition("="))
        if system.lower() not in LANES:
            problems.append(f"PAVEDROAD_EFFECT_CONCURRENCY: {system[:40]!r} is not an outside system; name "
                            f"{', '.join(LANES)} (e.g. servicenow=16)")
        elif not (count.isascii() and count.isdigit()) or not 1 <= int(count) <= 1000:
            problems.append(f"PAVEDROAD_EFFECT_CONCURRENCY: {system.lower()}'s count must be a whole number from 1 "
                            "to 1000 (e.g. servicenow=16)")
        else:
            chosen[system.lower()] = int(count)
    return chosen


def database_from_env(env: Mapping[str, str] | None = None) -> tuple[str | None, Path]:
    """Where the store is, from the environment alone (what `pavedroad migrate` needs, without Slack's or
    PagerDuty's settings): the PostgreSQL URL if PAVEDROAD_DATABASE_URL is set, and the SQLite file."""
    env = os.environ if env is None else env
    url = read(env, "PAVEDROAD_DATABASE_URL")
    if url and not url.startswith(DATABASE_SCHEMES):
        raise ConfigError(["PAVEDROAD_DATABASE_URL: not a PostgreSQL URL; write it as "
                           "postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to use SQLite (PAVEDROAD_DB)"])
    return url, Path(read(env, "PAVEDROAD_DB") or "pavedroad.db")


def catalogue_path_from_env(env: Mapping[str, str] | None = None) -> Path:
    """The catalogue's file, from CATALOGUE_PATH (or the file CATALOGUE_PATH_FILE names: a path in a mounted
    secret), else catalogue.yml; ConfigError when that file cannot be read."""
    return Path(read(os.environ if env is None else env, "CATALOGUE_PATH") or "catalogue.yml")


def chosen_catalogue(flag: Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The catalogue a command was given: its --catalogue, else CATALOGUE_PATH (or the file CATALOGUE_PATH_FILE
    names), else None, for the command's own fallback (calculate's bundled example, report's seed catalogue).
    ConfigError when CATALOGUE_PATH_FILE cannot be read."""
    if flag is not None:
        return flag
    path = given(os.environ if env is None else env, "CATALOGUE_PATH")
    return Path(path) if path else None


def tcp_port(text: str) -> int | None:
    """The port PORT names, or None if it names none. ASCII digits only, as the container's health check reads it:
    int() alone would also take ' 3000', '3_000' and '٣٠٠٠' (and str.isdigit() alone passes '²', which int()
    refuses), and the bot would serve on a port that the check then calls dead. Port 0 would let the system choose
    one that no Service or probe knows."""
    if not (text.isascii() and text.isdigit()):
        return None
    port = int(text)
    return port if 0 < port <= 65535 else None


def _number(text: str | None, name: str, problems: list[str], *, at_least: float, allowed: str,
            at_most: float = math.inf) -> float | None:
    """A finite number within [at_least, at_most], or None with a problem naming the variable, its value and what
    is allowed. float() reads 'nan' and 'inf' too: neither is a rate or a duration (nan fails every comparison,
    so it would slip past a bare range check)."""
    try:
        number = float(text or "")
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and at_least <= number <= at_most):
        problems.append(f"{name}: {text!r} is not allowed; use {allowed}")
        return None
    return number


def reference_table() -> str:
    """The configuration reference as a Markdown table (kept in the README; a test checks they agree)."""
    rows = ["| variable | default | example | what it is |", "| --- | --- | --- | --- |"]
    for v in VARIABLES:
        required = " **Required** for `serve`." if v.required_for_serve else \
            f" **Required** with `{v.required_with}`." if v.required_with else ""
        rows.append(f"| `{v.name}` | {f'`{v.default}`' if v.default else '—'} | `{v.example}` | "
                    f"{v.help}{required} |")
    return "\n".join(rows)
