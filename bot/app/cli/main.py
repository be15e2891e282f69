"""The `pavedroad` command: serve, sandbox, emulators, check-config, provision, report, history, inbox, calculate,
migrate."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.app.cli import database as database_cli
from bot.app.cli import emulated
from bot.app.cli import inbox as inbox_cli
from bot.app.cli import report as reports_cli
from bot.app.cli.listening import port_taken
from bot.app.config import (
    Settings,
    catalogue_path_from_env,
    chosen_catalogue,
    load_settings,
    read,
    reference_table,
    tcp_port,
)
from bot.catalogue_file import CatalogueError
from bot.errors import ConfigError

if TYPE_CHECKING:  # the runtime (Slack, aiohttp, the scheduler) loads only for the commands that run the bot
    from bot.app.runtime import Bot
    from bot.catalogue import Catalogue


def main(argv: list[str] | None = None) -> int:
    """Run one command. A reader that stops early (`pavedroad report | head`) ends it quietly, exit 1, as Python's
    own recipe has it: no BrokenPipeError traceback."""
    try:
        code = _command(argv)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # Whatever is still buffered would fail again at exit: stdout goes to /dev/null from here on.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _command(argv: list[str] | None) -> int:
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
        return asyncio.run(emulated.run_sandbox(args.port, args.db, args.catalogue, args.history))
    return asyncio.run(emulated.run_emulators(args.port, args.bot_url, args.catalogue))


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
        catalogue = load_catalogue(catalogue_path_from_env())
    except ConfigError as error:  # CATALOGUE_PATH_FILE unreadable: load_settings has said so already
        problems += [problem for problem in error.problems if problem not in problems]
    except CatalogueError as error:  # its own path: the file `extends:` names, when that is the one at fault
        problems += [f"catalogue {error.path}: {p}" for p in error.problems]
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
        print("Fix the above (see README, 'Configuration reference') and start again.", file=sys.stderr)
        return 2
    if port is not None or db is not None:
        settings = replace(settings, port=port if port is not None else settings.port,
                           db_path=db if db is not None else settings.db_path)
    # Before anything starts: a restart while the old bot still holds the port is one line, exit 2.
    if (busy := port_taken(settings.port, "0.0.0.0")) is not None:
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
        where = "" if error.path == path else f"{error.path}: "  # the file `extends:` names, when it is at fault
        logging.getLogger("bot.app.cli.main").error("catalogue %s not reloaded, keeping the running one: %s", path,
                                                    "; ".join(where + problem for problem in error.problems))
        return False
    bot.reload_rotas(catalogue)
    return True


if __name__ == "__main__":
    sys.exit(main())
