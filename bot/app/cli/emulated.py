"""The commands that run the emulated world: `pavedroad sandbox` (the bot beside its emulators of Slack, PagerDuty
and ServiceNow, on one port) and `pavedroad emulators` (the emulators alone, for a `pavedroad serve` started apart).
The sandbox package is imported lazily: the product never imports it, and a plain install lacks its extra."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.adapters.store.sqlite.in_use import database_in_use
from bot.app.cli.listening import bound_socket, port_taken
from bot.app.config import chosen_catalogue, given
from bot.catalogue_file import CatalogueError, example_catalogue_path, seed_catalogue_path
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.catalogue import Catalogue

# The third-party packages only the sandbox uses: pyproject.toml's `sandbox` extra (openapi-core, and werkzeug, which
# the sandbox imports directly). A plain install has the bot without them; `sandbox` and `emulators` then say so.
SANDBOX_ONLY_PACKAGES = frozenset({"openapi_core", "werkzeug"})


async def run_sandbox(port: int, db: Path, catalogue_path: Path | None, history: bool = False) -> int:
    # Imported here, not at the top: the product never imports the sandbox, and a plain install lacks its extra.
    try:
        from sandbox.world import SandboxSecrets, seed_running, serve_sandbox
    except ImportError as error:
        return _without_sandbox_extra("sandbox", error)
    try:  # the secrets it takes from the environment, read as the bot reads them (or from their NAME_FILE)
        keys = SandboxSecrets.from_env()
    except ConfigError as error:
        print(f"pavedroad sandbox: {'; '.join(error.problems)}", file=sys.stderr)
        return 2
    # The history is the seed's platform's: its services are the seed catalogue's (the example's and more).
    path = catalogue_path or (seed_catalogue_path() if history else example_catalogue_path())
    if (catalogue := _catalogue_for("sandbox", path)) is None:
        return 2
    # Before anything is cleared: a second sandbox in the same folder must leave the running one's database alone.
    busy = port_taken(port)
    if busy is not None:
        print(f"Cannot listen on port {port} ({busy}): is another sandbox running? Use another port: "
              f"`pavedroad sandbox --port {port + 1}` or `make sandbox PORT={port + 1}`.", file=sys.stderr)
        return 2
    if database_in_use(db):
        print(f"{db} is open in another process (a sandbox or bot still running?): stop it, or give this one its "
              f"own database with --db.", file=sys.stderr)
        return 2
    # The emulators keep their world in memory and start empty; a database left by an earlier run would remember
    # incidents and channels that no longer exist in it. Start both fresh.
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if stale.exists():
            stale.unlink()
            print(f"Removed {stale} from an earlier sandbox run: the emulators start empty, so does the bot.")
    print("Loading the PagerDuty OpenAPI contract (a few seconds)…", flush=True)
    try:
        running = await serve_sandbox(catalogue, db, port=port, keys=keys)
    except OSError as error:
        print(f"Cannot listen on port {port} ({error.strerror}): is another sandbox running? Use another port: "
              f"`pavedroad sandbox --port {port + 1}` or `make sandbox PORT={port + 1}`.", file=sys.stderr)
        return 2
    if history:
        incidents, deploys = await seed_running(running)
        print(f"Imported the synthetic history from the sandbox's PagerDuty: {incidents} incidents and {deploys} "
              "deploys (README, 'Reports').", flush=True)
    url = running.url
    print(f"""
Paved Road sandbox is running on {url}  (catalogue: {path}, database: {db})

  Open {url} in a browser: the sandbox's Slack, PagerDuty, ServiceNow, clock and faults on one page.

  Bot:        POST {url}/pagerduty/webhook   POST {url}/slack/events   GET {url}/healthz  /readyz  /metrics
  Emulators:  {url}/sandbox/slack/api/   {url}/sandbox/pagerduty/api   {url}/sandbox/servicenow
  State:      GET {url}/sandbox/state

Try it:
  curl -s -XPOST {url}/sandbox/pagerduty/incidents -H 'content-type: application/json' \\
       -d '{{"title": "Checkout returns 500s", "service_id": "PCHECKO"}}'
  curl -s {url}/sandbox/state | python3 -m json.tool | less
  curl -s -XPOST {url}/sandbox/pagerduty/incidents/<id>/acknowledge -H 'content-type: application/json' -d '{{}}'
  curl -s -XPOST {url}/sandbox/pagerduty/incidents/<id>/resolve -H 'content-type: application/json' -d '{{}}'

Press Ctrl+C to stop.""", flush=True)
    await _wait_forever()
    await running.stop()
    return 0


async def run_emulators(port: int, bot_url: str, catalogue_path: Path | None) -> int:
    from aiohttp import web

    try:  # here, not at the top: as in run_sandbox
        from sandbox.balancer import Balancer
        from sandbox.world import SERVICENOW_USER, Sandbox, SandboxSecrets
    except ImportError as error:
        return _without_sandbox_extra("emulators", error)
    bot_urls = [u.strip().rstrip("/") for u in bot_url.split(",") if u.strip()]
    if not bot_urls:
        print("pavedroad emulators: --bot-url needs at least one URL, e.g. http://127.0.0.1:3000", file=sys.stderr)
        return 2
    if wrong := [u for u in bot_urls if not u.startswith(("http://", "https://"))]:  # deliveries could not reach it
        print("pavedroad emulators: --bot-url needs http(s) URLs, e.g. http://127.0.0.1:3000; not "
              + ", ".join(repr(u) for u in wrong), file=sys.stderr)
        return 2

    try:  # --catalogue, else CATALOGUE_PATH (as the bot it serves reads it), else the bundled example
        catalogue_path = chosen_catalogue(catalogue_path) or example_catalogue_path()
    except ConfigError as error:
        print(f"pavedroad emulators: {'; '.join(error.problems)}", file=sys.stderr)
        return 2
    if (catalogue := _catalogue_for("emulators", catalogue_path)) is None:
        return 2
    env = os.environ
    try:  # the secrets already set, read as the bot reads them: the variable, or the file its NAME_FILE names
        keys = SandboxSecrets.from_env(env, credentials=True)
        from_environment = {name for name in ENVIRONMENT_SECRETS if given(env, name)}
    except ConfigError as error:
        print(f"pavedroad emulators: {'; '.join(error.problems)}", file=sys.stderr)
        return 2
    # Bound before anything is built on its address: with --port 0 the exports and the emulators' own links (a
    # response_url, an incident's html_url) carry the port the system picked, not 0.
    try:
        listening = bound_socket(port)
    except OSError as error:
        print(f"pavedroad emulators: cannot listen on port {port} ({error.strerror}): are emulators already running "
              f"there? Give another port: --port {port + 1}, or --port 0 for any free one.", file=sys.stderr)
        return 2
    sandbox = Sandbox(catalogue, keys)
    app = web.Application()
    sandbox.add_routes(app)
    url = f"http://127.0.0.1:{listening.getsockname()[1]}"
    # Replicas sit behind a load balancer, as in a deployment; one bot is sent to directly, as before.
    balancer = Balancer(bot_urls) if len(bot_urls) > 1 else None
    if balancer is not None:
        balancer.add_routes(app)
    sandbox.connect(balancer.url(url) if balancer else bot_urls[0], url)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, listening).start()
    # Print only what the emulators generated: a secret that came from the environment is never echoed.
    exports = {"SLACK_BOT_TOKEN": keys.slack_bot_token, "SLACK_SIGNING_SECRET": keys.slack_signing_secret,
               "PAGERDUTY_API_TOKEN": keys.pagerduty_api_token,
               "PAGERDUTY_WEBHOOK_SECRETS": ",".join(keys.pagerduty_webhook_secrets),
               "SLACK_API_URL": f"{url}/sandbox/slack/api/", "PAGERDUTY_API_URL": f"{url}/sandbox/pagerduty/api",
               "SERVICENOW_INSTANCE_URL": f"{url}/sandbox/servicenow", "SERVICENOW_USERNAME": SERVICENOW_USER,
               "SERVICENOW_PASSWORD": keys.servicenow_password,
               "SERVICENOW_WEBHOOK_SECRET": keys.servicenow_webhook_secret,
               "CATALOGUE_PATH": str(catalogue_path)}
    # Only the secrets are taken from the environment; the addresses are this run's, whatever an earlier run's
    # pasted exports say (the shell may still hold another port's).
    lines = [f"# {name}: as already set in your environment" if name in from_environment
             else f"export {name}={value}" for name, value in exports.items()]
    # The app-level token the emulators accept, left commented out: set, it puts the bot in Socket Mode (README,
    # "HTTP mode or Socket Mode"), which HTTP mode, the default, does without.
    lines.append(f"# export SLACK_APP_TOKEN={keys.slack_app_token}  # uncomment for Socket Mode")
    # The same exports serve every replica; each is started on its own port, all on one database.
    serves = [f"pavedroad serve --port {urlsplit(u).port or 80}" for u in bot_urls]
    where = f"the bot at {bot_urls[0]}" if len(bot_urls) == 1 else \
        f"{len(bot_urls)} replicas round-robin ({', '.join(bot_urls)}), all sharing one database"
    start = "the bot" if len(bot_urls) == 1 else "each"
    print(f"Emulators on {url} (open it in a browser), sending to {where}. Start {start} with:", *lines, *serves,
          sep="\n", flush=True)
    await _wait_forever()
    await sandbox.close()
    if balancer is not None:
        await balancer.close()
    await runner.cleanup()
    return 0


# The secrets `pavedroad emulators` accepts from its environment, or from the files their NAME_FILE name
# (`SandboxSecrets.from_env` with its credentials).
ENVIRONMENT_SECRETS = frozenset({"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PAGERDUTY_API_TOKEN",
                                 "PAGERDUTY_WEBHOOK_SECRETS", "SERVICENOW_PASSWORD", "SERVICENOW_WEBHOOK_SECRET"})


def _catalogue_for(command: str, path: Path) -> Catalogue | None:
    """The catalogue at `path`, or None once its problems are printed (the command then exits 2)."""
    from bot.catalogue import load_serving_catalogue  # the full catalogue's models load only when a command runs

    try:
        return load_serving_catalogue(path)
    except CatalogueError as error:
        print(f"pavedroad {command}: {error.described()}", file=sys.stderr)
        return None


def _without_sandbox_extra(command: str, error: ImportError) -> int:
    """One line saying how to add the sandbox's dependencies when they are what is missing; any other import error
    is a bug, and is raised."""
    if (error.name or "").partition(".")[0] not in SANDBOX_ONLY_PACKAGES:
        raise error
    print(f"pavedroad {command} needs the sandbox extra: pip install 'pavedroad[sandbox]' (from a clone: "
          "pip install '.[sandbox]', or make sandbox)", file=sys.stderr)
    return 2


async def _wait_forever() -> None:
    import asyncio

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        await asyncio.Event().wait()
