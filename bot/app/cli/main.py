"""The `pavedroad` command: serve, sandbox, emulators, check-config, provision, report, history, inbox, calculate,
migrate."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.adapters.store.sqlite.in_use import database_in_use
from bot.app.cli import database as database_cli
from bot.app.cli import inbox as inbox_cli
from bot.app.cli import report as reports_cli
from bot.app.config import (
    Settings,
    catalogue_path_from_env,
    chosen_catalogue,
    load_settings,
    read,
    reference_table,
    tcp_port,
)
from bot.catalogue_file import CatalogueError, example_catalogue_path, seed_catalogue_path
from bot.errors import ConfigError

if TYPE_CHECKING:  # the runtime (Slack, aiohttp, the scheduler) loads only for the commands that run the bot
    from bot.app.runtime import Bot
    from bot.catalogue import Catalogue

# The third-party packages only the sandbox uses: pyproject.toml's `sandbox` extra (openapi-core, and werkzeug, which
# the sandbox imports directly). A plain install has the bot without them; `sandbox` and `emulators` then say so.
SANDBOX_ONLY_PACKAGES = frozenset({"openapi_core", "werkzeug"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pavedroad", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the bot against real Slack and PagerDuty (config from env)")
    serve.add_argument("--port", type=_serving_port, help="HTTP port, 1 to 65535 (default: $PORT or 3000)")
    serve.add_argument("--db", type=Path, help="SQLite file (default: $PAVEDROAD_DB or pavedroad.db); unused when "
                       "PAVEDROAD_DATABASE_URL selects PostgreSQL")
    sandbox = sub.add_parser("sandbox", help="run the bot with its Slack, PagerDuty, ServiceNow emulators on one port")
    sandbox.add_argument("--port", type=_listening_port, default=3000, help="0 to 65535 (0: any free port)")
    sandbox.add_argument("--db", type=Path, default=Path("sandbox.db"),
                         help="the bot's database for this run (started fresh each run, like the emulators)")
    sandbox.add_argument("--catalogue", type=Path, default=None, help="default: the bundled example catalogue")
    emulators = sub.add_parser("emulators", help="run only the emulators, sending to a bot elsewhere")
    emulators.add_argument("--port", type=_listening_port, default=3001, help="0 to 65535 (0: any free port)")
    emulators.add_argument("--bot-url", required=True,
                           help="the bot's base URL, e.g. http://127.0.0.1:3000; for replicas, several, "
                                "comma-separated (deliveries go round-robin, skipping a replica that refuses "
                                "connections)")
    emulators.add_argument("--catalogue", type=Path, default=None)
    check = sub.add_parser("check-config", help="validate the environment and the catalogue; exit 2 on error")
    check.add_argument("--reference", action="store_true", help="print the configuration reference table")
    sandbox.add_argument("--history", action="store_true",
                         help="start with the synthetic incident history in PagerDuty, imported by the bot, on "
                              "the seed catalogue (the example's organisation and the seed's platform; README, "
                              "'Reports')")
    reports_cli.add_parsers(sub)
    inbox_cli.add_parsers(sub)
    database_cli.add_parsers(sub)
    provision = sub.add_parser("provision", help="create the catalogue's PagerDuty teams, rotas, escalation "
                               "policies, services, webhook subscriptions and Slack channels")
    provision.add_argument("action", choices=("plan", "apply"), help="plan: show what apply would do; apply: do it")
    provision.add_argument("--prune", action="store_true", help="also delete managed resources no longer in the "
                           "catalogue")
    provision.add_argument("--catalogue", type=Path, default=None, help="default: $CATALOGUE_PATH or catalogue.yml")
    provision.add_argument("--detailed-exitcode", action="store_true", help="plan exits 3 when changes are pending")
    provision.add_argument("--secrets-file", type=Path, default=Path("pagerduty-webhook-secrets.txt"),
                           help="where new webhook subscriptions' signing secrets are written as PagerDuty shows "
                                "them (mode 0600, appended; default: %(default)s)")
    calculate = sub.add_parser("calculate", help="each service's exposure band, availability target, error budget "
                                                 "and on-call cover, from the catalogue")
    calculate.add_argument("--catalogue", type=Path, default=None,
                           help="default: $CATALOGUE_PATH, else the bundled example catalogue")
    calculate.add_argument("--format", choices=("table", "csv", "json"), default="table")
    calculate.add_argument("--check", action="store_true", help="exit 1 when any service is flagged")
    args = parser.parse_args(argv)
    configure_logging(_log_level())
    if args.command == "calculate":
        from bot.services.calculator import run_calculate

        try:  # None: the bundled example
            path = chosen_catalogue(args.catalogue)
        except ConfigError as error:
            print(f"pavedroad calculate: {'; '.join(error.problems)}", file=sys.stderr)
            return 2
        return run_calculate(path, args.format, check=args.check)
    if args.command in ("report", "history"):
        return reports_cli.run(args)
    if args.command == "inbox":
        return inbox_cli.run(args)
    if args.command == "migrate":
        return database_cli.run(args)
    if args.command == "check-config":
        return check_config(args.reference)
    if args.command == "provision":
        from bot.app.cli.provision import run_provision

        return run_provision(args.action, prune=args.prune, catalogue_path=args.catalogue,
                             detailed_exitcode=args.detailed_exitcode, secrets_file=args.secrets_file)
    if args.command == "serve":
        return run_serve(args.port, args.db)
    import asyncio  # only the commands that run an event loop load it (a report starts without)

    if args.command == "sandbox":
        return asyncio.run(run_sandbox(args.port, args.db, args.catalogue, args.history))
    return asyncio.run(run_emulators(args.port, args.bot_url, args.catalogue))


def _log_level() -> str:
    """LOG_LEVEL (or the file LOG_LEVEL_FILE names); INFO when that file cannot be read — `check-config` and `serve`
    report it, through the settings, and the other commands need no more than their logging."""
    try:
        return read(os.environ, "LOG_LEVEL") or "INFO"
    except ConfigError:
        return "INFO"


def _serving_port(text: str) -> int:
    """`serve --port`, read as PORT is (bot/app/config.py): a port the Service and the health check can find."""
    port = tcp_port(text)
    if port is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port; use a whole number from 1 to 65535")
    return port


def _listening_port(text: str) -> int:
    """`sandbox --port` and `emulators --port`: as `serve --port`, or 0 for any free port (tests take one)."""
    if text == "0":
        return 0
    port = tcp_port(text)
    if port is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port; use a whole number from 0 (any free port) to "
                                         "65535")
    return port


# The loggers slack_sdk's Web API clients log through (their default, `logging.getLogger(__name__)` of the client's
# module), whose own level the SDK compares with DEBUG before formatting a request's or an answer's body.
SDK_SELF_LEVEL_LOGGERS = ("slack_sdk.web.async_base_client", "slack_sdk.web.base_client",
                          "slack_sdk.web.legacy_base_client")


def configure_logging(level_name: str) -> None:
    """Our loggers at LOG_LEVEL (a bad value falls back to INFO; check-config reports it). Third-party loggers
    stay at INFO or above even with DEBUG: slack_sdk logs whole request and response bodies at DEBUG."""
    level = logging.getLevelName(level_name.upper())
    level = level if isinstance(level, int) else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("slack_sdk", "slack_bolt", "httpx2", "httpx", "pagerduty", "aiohttp", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO))
    # "Running job …" every minute per rota says nothing; a job's failure is still logged (at ERROR).
    logging.getLogger("apscheduler.executors").setLevel(max(level, logging.WARNING))
    # Nor do "Adding job tentatively -- it will be properly scheduled when the scheduler starts", once per job
    # before the banner.
    logging.getLogger("apscheduler.scheduler").setLevel(max(level, logging.WARNING))
    # One line per HTTP request says nothing either; failures reach our own logs as IntegrationError.
    for chatty in ("httpx2", "httpx"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    # slack_sdk decides whether to build its DEBUG lines (each request's and answer's whole body, formatted) from a
    # logger's *own* level, not the level it inherits: its clients' loggers, left unset, built them for every call
    # only for the records to be dropped (0.2 ms of CPU on the event loop for a card's chat.postMessage, twice its
    # JSON encoding). So they get a level of their own.
    for gated in SDK_SELF_LEVEL_LOGGERS:
        logging.getLogger(gated).setLevel(max(level, logging.INFO))


def load_catalogue(path: Path) -> Catalogue:
    """The catalogue validated in full (bot/catalogue.py), with at least one service (a bot paging nobody is a
    problem): its models (pydantic) load for the commands that use it, not for `report`, which starts from the view it
    kept (bot/app/cli/report_catalogue.py)."""
    from bot.catalogue import load_serving_catalogue as validated

    return validated(path)


def _configuration() -> tuple[Settings, Catalogue]:
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = load_settings()
    except ConfigError as error:
        problems += error.problems
    catalogue: Catalogue | None = None
    try:
        path = catalogue_path_from_env()
        catalogue = load_catalogue(path)
    except ConfigError as error:  # CATALOGUE_PATH_FILE unreadable: load_settings has said so already
        problems += [problem for problem in error.problems if problem not in problems]
    except CatalogueError as error:
        problems += [f"catalogue {path}: {p}" for p in error.problems]
    if problems or settings is None or catalogue is None:
        raise ConfigError(problems)
    return settings, catalogue


def check_config(reference: bool) -> int:
    if reference:
        print(reference_table())
        return 0
    try:
        settings, catalogue = _configuration()
    except ConfigError as error:
        print(f"Configuration has {len(error.problems)} problem(s):", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    mode = "Socket Mode" if settings.socket_mode else "HTTP mode (POST /slack/events)"
    print(f"Configuration OK: {len(catalogue.services)} services, {len(catalogue.teams)} teams; Slack in {mode}.")
    return 0


def run_serve(port: int | None, db: Path | None) -> int:
    from aiohttp import web

    from bot.app.runtime import Bot
    from bot.app.web import HTTP_SHUTDOWN_SECONDS, build_web_app

    try:
        settings, catalogue = _configuration()
    except ConfigError as error:
        for problem in error.problems:
            print(f"config: {problem}", file=sys.stderr)
        print("Fix the above (see README, 'Configuration') and start again.", file=sys.stderr)
        return 2
    if port is not None or db is not None:
        settings = replace(settings, port=port if port is not None else settings.port,
                           db_path=db if db is not None else settings.db_path)
    # Before anything starts: a restart while the old bot still holds the port is one line, exit 2.
    if (busy := _port_taken(settings.port, "0.0.0.0")) is not None:
        print(f"pavedroad serve: cannot listen on port {settings.port} ({busy}): is the bot already running here? "
              "Stop it, or give this one another port (--port, or PORT).", file=sys.stderr)
        return 2
    # The schema is brought up to date before the port opens; a database that cannot be opened is one line, exit 2.
    if not database_cli.prepare_store(settings.database_url, settings.db_path):
        return 2
    bot = Bot(settings, catalogue)
    app = build_web_app(bot)
    app.on_startup.append(lambda _app: _reload_on_sighup(bot))
    # On SIGTERM: stop listening, wait for the requests in flight, then the bot's own graceful stop (Bot.stop).
    web.run_app(app, port=settings.port, access_log=None, shutdown_timeout=HTTP_SHUTDOWN_SECONDS)
    return 0


async def _reload_on_sighup(bot: Bot) -> None:
    """`kill -HUP <pid>` re-reads the catalogue (see `reload_catalogue`)."""
    import asyncio

    path = bot.settings.catalogue_path  # the file `serve` started from
    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        task = asyncio.create_task(reload_catalogue(bot, path))
        reloads.add(task)  # kept until done: the loop holds tasks only weakly
        task.add_done_callback(reloads.discard)

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


async def reload_catalogue(bot: Bot, path: Path) -> bool:
    """Re-read the catalogue (off the event loop): a valid one's rotas take effect at once; an invalid one is refused
    with its problems logged, and the running catalogue stays."""
    import asyncio

    try:
        catalogue = await asyncio.to_thread(load_catalogue, path)
    except CatalogueError as error:
        logging.getLogger("bot.app.cli.main").error("catalogue %s not reloaded, keeping the running one: %s", path,
                                           "; ".join(error.problems))
        return False
    bot.reload_rotas(catalogue)
    return True


async def run_sandbox(port: int, db: Path, catalogue_path: Path | None, history: bool = False) -> int:
    # Imported here, not at the top: the product never imports the sandbox, and a plain install lacks its extra.
    try:
        from sandbox.world import seed_running, serve_sandbox
    except ImportError as error:
        return _without_sandbox_extra("sandbox", error)
    # The history is the seed's platform's: its services are the seed catalogue's (the example's and more).
    path = catalogue_path or (seed_catalogue_path() if history else example_catalogue_path())
    if (catalogue := _catalogue_for("sandbox", path)) is None:
        return 2
    # Before anything is cleared: a second sandbox in the same folder must leave the running one's database alone.
    busy = _port_taken(port)
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
        running = await serve_sandbox(catalogue, db, port=port)
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

    if (catalogue := _catalogue_for("emulators", catalogue_path or example_catalogue_path())) is None:
        return 2
    env = os.environ
    generated = SandboxSecrets.from_env()
    keys = SandboxSecrets(slack_bot_token=env.get("SLACK_BOT_TOKEN") or generated.slack_bot_token,
                          slack_signing_secret=generated.slack_signing_secret,
                          pagerduty_api_token=env.get("PAGERDUTY_API_TOKEN") or generated.pagerduty_api_token,
                          pagerduty_webhook_secrets=generated.pagerduty_webhook_secrets,
                          slack_app_token=generated.slack_app_token,
                          servicenow_password=env.get("SERVICENOW_PASSWORD") or generated.servicenow_password,
                          servicenow_webhook_secret=generated.servicenow_webhook_secret)
    sandbox = Sandbox(catalogue, keys)
    app = web.Application()
    sandbox.add_routes(app)
    url = f"http://127.0.0.1:{port}"
    # Replicas sit behind a load balancer, as in a deployment; one bot is sent to directly, as before.
    balancer = Balancer(bot_urls) if len(bot_urls) > 1 else None
    if balancer is not None:
        balancer.add_routes(app)
    sandbox.connect(balancer.url(url) if balancer else bot_urls[0], url)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    # Print only what the emulators generated: a secret that came from the environment is never echoed.
    exports = {"SLACK_BOT_TOKEN": keys.slack_bot_token, "SLACK_SIGNING_SECRET": keys.slack_signing_secret,
               "PAGERDUTY_API_TOKEN": keys.pagerduty_api_token,
               "PAGERDUTY_WEBHOOK_SECRETS": ",".join(keys.pagerduty_webhook_secrets),
               "SLACK_API_URL": f"{url}/sandbox/slack/api/", "PAGERDUTY_API_URL": f"{url}/sandbox/pagerduty/api",
               "SERVICENOW_INSTANCE_URL": f"{url}/sandbox/servicenow", "SERVICENOW_USERNAME": SERVICENOW_USER,
               "SERVICENOW_PASSWORD": keys.servicenow_password,
               "SERVICENOW_WEBHOOK_SECRET": keys.servicenow_webhook_secret,
               "CATALOGUE_PATH": str(catalogue_path or example_catalogue_path())}
    lines = [f"export {name}={value}" if name not in env else f"# {name}: as already set in your environment"
             for name, value in exports.items()]
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


def _catalogue_for(command: str, path: Path) -> Catalogue | None:
    """The catalogue at `path`, or None once its problems are printed (the command then exits 2)."""
    try:
        return load_catalogue(path)
    except CatalogueError as error:
        print(f"pavedroad {command}: catalogue {error.path}: " + "; ".join(error.problems), file=sys.stderr)
        return None


def _port_taken(port: int, host: str = "127.0.0.1") -> str | None:
    """Why `port` cannot be listened on (another process has it), or None when it is free; bound the way the
    sandbox (127.0.0.1) or `serve` (0.0.0.0) binds it, then let go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
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


if __name__ == "__main__":
    sys.exit(main())
