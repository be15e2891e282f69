"""`pavedroad provision plan|apply [--prune] [--catalogue PATH] [--detailed-exitcode]`: configuration, the run, and
what it prints.

Exit codes: 0 done (or nothing to do), 1 PagerDuty or Slack stopped the run (apply again to resume; when PagerDuty
refused a change, fix what it refused first), 2 the configuration or the catalogue is wrong (nothing was changed), 3
`plan --detailed-exitcode` found changes pending.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.adapters.pagerduty.admin import PagerDutyApi, PagerDutyRefused
from bot.adapters.slack.channels import SlackChannels, wanted_channels
from bot.app.config import VARIABLES, catalogue_path_from_env, read
from bot.catalogue import Catalogue, CatalogueError, load_catalogue
from bot.errors import ConfigError, ProvisioningError
from bot.services.provisioning.apply import apply_plan
from bot.services.provisioning.plan import Actual, Plan, _catalogue_notes, make_plan, render

EXIT_OK, EXIT_STOPPED, EXIT_CONFIG, EXIT_CHANGES = 0, 1, 2, 3


@dataclass(frozen=True)
class ProvisionSettings:
    pagerduty_api_token: str
    pagerduty_api_url: str | None
    public_url: str
    slack_bot_token: str | None
    slack_api_url: str | None


_EXAMPLES = {variable.name: variable.example for variable in VARIABLES}  # how a URL is written


def load_provision_settings(env: Mapping[str, str]) -> ProvisionSettings:
    """What provisioning needs from the environment (the same variables as `serve`); ConfigError lists problems."""
    values = {name: read(env, name) for name in ("PAGERDUTY_API_TOKEN", "PAGERDUTY_API_URL", "PAVEDROAD_PUBLIC_URL",
                                                 "SLACK_BOT_TOKEN", "SLACK_API_URL")}
    problems = []
    if not values["PAGERDUTY_API_TOKEN"]:
        problems.append("PAGERDUTY_API_TOKEN: not set; provisioning writes to PagerDuty with a full-access REST API "
                        "key (PagerDuty → Integrations → API Access Keys)")
    public = values["PAVEDROAD_PUBLIC_URL"]
    if not public:
        problems.append("PAVEDROAD_PUBLIC_URL: not set; it is the bot's public base URL, where PagerDuty sends each "
                        "service's webhooks (<url>/pagerduty/webhook), e.g. https://pavedroad.example.com")
    for name in ("PAVEDROAD_PUBLIC_URL", "PAGERDUTY_API_URL", "SLACK_API_URL"):
        if values[name] and not str(values[name]).startswith(("http://", "https://")):
            problems.append(f"{name}: {values[name]!r} is not an http(s) URL; write it with its scheme, e.g. "
                            f"{name}={_EXAMPLES[name]}")
    token = values["SLACK_BOT_TOKEN"]
    if token and not token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN: does not start with 'xoxb-'; use the app's Bot User OAuth Token")
    if problems:
        raise ConfigError(problems)
    return ProvisionSettings(str(values["PAGERDUTY_API_TOKEN"]), values["PAGERDUTY_API_URL"], str(public),
                             token, values["SLACK_API_URL"])


def run_provision(action: str, *, prune: bool, catalogue_path: Path | None, detailed_exitcode: bool = False,
                  env: Mapping[str, str] | None = None, out: TextIO | None = None, err: TextIO | None = None,
                  api_factory: Callable[[ProvisionSettings], PagerDutyApi] | None = None,
                  secrets_file: Path | None = None) -> int:
    """`secrets_file`: where new webhook subscriptions' signing secrets are written the moment PagerDuty shows them
    (mode 0600, appended); None prints them instead, as they come."""
    env = os.environ if env is None else env
    out, err = out or sys.stdout, err or sys.stderr

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    path = catalogue_path or Path("catalogue.yml")
    problems: list[str] = []
    settings: ProvisionSettings | None = None
    catalogue: Catalogue | None = None
    try:
        settings = load_provision_settings(env)
    except ConfigError as error:
        problems += error.problems
    try:
        path = catalogue_path or catalogue_path_from_env(env)
        catalogue = load_catalogue(path)
    except ConfigError as error:  # CATALOGUE_PATH_FILE cannot be read
        problems += error.problems
    except CatalogueError as error:  # its own path: the file `extends:` names, when that is the one at fault
        problems += [f"catalogue {error.path}: {p}" for p in error.problems]
    if catalogue is not None and prune and not catalogue.services:
        # An empty file (a ConfigMap key mounted empty) would prune every service this project manages: refused.
        problems.append(f"catalogue {path}: lists no service, and --prune would delete everything Paved Road manages"
                        " in PagerDuty that the catalogue does not list: every service, and their schedules and"
                        " escalation policies; check that the file (or the ConfigMap key mounted there) has the"
                        " catalogue in it")
    if problems or settings is None or catalogue is None:
        return _fail(err, "Cannot provision; fix the configuration (nothing was changed):", problems, EXIT_CONFIG)
    api = api_factory(settings) if api_factory else PagerDutyApi(settings.pagerduty_api_token,
                                                                 settings.pagerduty_api_url)
    try:
        return _run(action, api, settings, catalogue, path, prune=prune, detailed_exitcode=detailed_exitcode,
                    say=say, err=err, secrets_file=secrets_file)
    finally:
        api.close()


def _run(action: str, api: PagerDutyApi, settings: ProvisionSettings, catalogue: Catalogue, path: Path, *,
         prune: bool, detailed_exitcode: bool, say: Callable[[str], None], err: TextIO,
         secrets_file: Path | None = None) -> int:
    slack = SlackChannels(settings.slack_bot_token, settings.slack_api_url) if settings.slack_bot_token else None
    try:
        plan = make_plan(catalogue, Actual.read(api), bot_url=settings.public_url, prune=prune,
                         kept_secrets=_kept_secrets(secrets_file))
        if slack is not None:
            channels = slack.check(wanted_channels(catalogue))
            plan.channels, plan.archived = channels.missing, channels.archived
            plan.problems += channels.problems
        else:
            plan.slack_checked = False
            plan.notes.append("Slack channels not checked: SLACK_BOT_TOKEN is not set")
    except ProvisioningError as error:
        return _fail(err, "Cannot read the current state (nothing was changed):", [str(error)], EXIT_STOPPED)
    if plan.problems:
        return _fail(err, f"Cannot provision from {path}; fix these first (nothing was changed):", plan.problems,
                     EXIT_CONFIG)
    say(render(plan, pagerduty_url=api.base_url, prune=prune))
    if action == "plan":
        return EXIT_CHANGES if detailed_exitcode and not plan.empty else EXIT_OK
    if plan.empty:
        return EXIT_OK
    if (unwritable := _cannot_keep_secrets(plan, secrets_file)) is not None:
        return _fail(err, f"Cannot keep the new webhook subscriptions' signing secrets in {secrets_file} "
                          f"({unwritable}): give --secrets-file a file you may write, in a folder that exists "
                          "(nothing was changed).", [], EXIT_CONFIG)
    return _apply(plan, api, slack, catalogue, say, err, secrets_file)


def _kept_secrets(secrets_file: Path | None) -> set[str] | None:
    """The subscription keys whose signing secrets the file holds; None when there is no file to go by (secrets
    printed, or never written here: then nothing is compared, rather than every subscription replaced)."""
    try:
        # Only a regular file: a device (/dev/full, /dev/zero) would be read for ever.
        if secrets_file is None or not secrets_file.is_file():
            return None
        text = secrets_file.read_text(encoding="utf-8", errors="replace")
    except OSError:  # unreadable: `_cannot_keep_secrets` says so before anything is written
        return None
    return {key.strip() for key, _, secret in (line.partition("=") for line in text.splitlines()) if secret.strip()}


def _cannot_keep_secrets(plan: Plan, secrets_file: Path | None) -> str | None:
    """Why the secrets file cannot be written, when the plan makes subscriptions: found before any change, since
    PagerDuty shows each new subscription's secret once, in the answer that created it."""
    makes = any(a.kind == "webhook_subscription" and a.op in ("create", "replace") for a in plan.actions)
    if secrets_file is None or not makes:
        return None
    try:
        os.close(os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError as error:
        return error.strerror or str(error)
    return None


def _apply(plan: Plan, api: PagerDutyApi, slack: SlackChannels | None, catalogue: Catalogue,
           say: Callable[[str], None], err: TextIO, secrets_file: Path | None = None) -> int:
    say("Applying…")

    def keep_secret(key: str, secret: str) -> None:
        if secrets_file is None:
            say(f"  signing secret of {key}: {secret}  (PagerDuty shows it only now: add it to "
                "PAGERDUTY_WEBHOOK_SECRETS where the bot runs)")
            return
        try:
            descriptor = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as kept:
                kept.write(f"{key}={secret}\n")
                kept.flush()
                os.fsync(kept.fileno())
        except OSError as error:  # a full disk: the output is the one place left to keep it
            say(f"  signing secret of {key}: {secret}  (not written to {secrets_file}: {error.strerror or error}; "
                "PagerDuty shows it only now: add it to PAGERDUTY_WEBHOOK_SECRETS where the bot runs)")
            return
        say(f"  signing secret of {key} written to {secrets_file}")

    outcome = apply_plan(plan, api, report=say, on_secret=keep_secret)
    if outcome.error is not None:
        lines = [str(outcome.error), f"Done ({len(outcome.done)}): " + ("; ".join(outcome.done) or "nothing"),
                 f"Not done ({len(outcome.not_done)}): " + "; ".join(outcome.not_done)]
        if plan.channels:
            lines.append(f"Not done: Slack channel(s) {', '.join('#' + c for c in plan.channels)}")
        _print_secrets(outcome.secrets, say, secrets_file)
        error = outcome.error
        if isinstance(error, PagerDutyRefused) and not error.retryable and error.status != 404:
            # A 404 is a resource deleted meanwhile, which the next plan sees; anything else is refused again.
            return _fail(err, "Apply stopped halfway: PagerDuty refused a change and would refuse it again, so "
                              "running apply again cannot finish. What was done stays done and is tagged. Fix what "
                              "PagerDuty refused (below; most often a name or value in the catalogue, else the API "
                              "key), check with `pavedroad provision plan`, then apply.", lines, EXIT_STOPPED)
        return _fail(err, "Apply stopped halfway; what was done stays done and is tagged, so nothing is duplicated. "
                          "Run `pavedroad provision apply` again to finish.", lines, EXIT_STOPPED)
    assert slack is not None or not plan.channels
    for name in plan.channels:
        try:
            channel_id = slack.create(name) if slack else name
        except ProvisioningError as error:
            return _fail(err, "PagerDuty is done; Slack stopped. Run `pavedroad provision apply` again to finish.",
                         [str(error)], EXIT_STOPPED)
        say(f"  done: + Slack channel #{name} ({channel_id})")
    _print_secrets(outcome.secrets, say, secrets_file)
    plan.ids.update(outcome.created)
    plan.notes = []
    _catalogue_notes(catalogue, plan)
    if plan.notes:
        say("Now put PagerDuty's ids in the catalogue:")
        for note in plan.notes:
            say(f"  ! {note}")
    say(f"Apply complete: {len(outcome.done)} PagerDuty change(s), {len(plan.channels)} Slack channel(s) created.")
    return EXIT_OK


def _print_secrets(secrets: dict[str, str], say: Callable[[str], None], secrets_file: Path | None) -> None:
    if secrets:
        # PagerDuty shows a subscription's signing secret only once, in the answer that created it.
        where = f"are in {secrets_file} (one `key=secret` per line)" if secrets_file else "are printed above"
        say(f"{len(secrets)} new webhook subscription(s) sign deliveries with secrets PagerDuty showed only once; "
            f"they {where}: add them to PAGERDUTY_WEBHOOK_SECRETS (comma-separated) where the bot runs.")


def _fail(err: TextIO, headline: str, problems: list[str], code: int) -> int:
    print(headline, file=err)
    for problem in problems:
        print(f"  - {problem}", file=err)
    return code
