"""The running bot: builds the store, adapters and services from settings, and runs the worker and dispatcher.

One `Bot` per process (or per test). `start()` opens the store and starts the background loops; `stop()` takes no new
work and starts no scheduled job, gives the work already acknowledged and the scheduled jobs running `DRAIN_SECONDS` to
finish, ends the loops and closes everything (bot/app/stopping.py holds its budgets and parts). `settle()` waits until
every stored event has been applied and every effect performed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

import commands
from bot.adapters.clock import SystemClock
from bot.adapters.pagerduty.api_key import PagerDutyApiKey
from bot.adapters.pagerduty.paging import PagerDutyPaging
from bot.adapters.pagerduty.webhook import PagerDutyWebhook
from bot.adapters.servicenow.credentials import ServiceNowCredentials
from bot.adapters.servicenow.tickets import ServiceNowTickets
from bot.adapters.servicenow.webhook import ServiceNowWebhook
from bot.adapters.slack.chat import TIERS, SlackChat
from bot.adapters.slack.identity import SlackIdentity
from bot.adapters.slack.interactions import SlackInteractions
from bot.app.applier import ApplierProcess
from bot.app.bolt_log import quiet_token_warnings
from bot.app.config import Settings
from bot.app.readiness import Readiness
from bot.app.scheduler import (
    ARCHIVE_CHECK_MINUTES,
    CARD_REFRESH_MINUTES,
    MONEY_REFRESH_MINUTES,
    REMINDER_CHECK_MINUTES,
    RETENTION_MINUTES,
    Job,
    build_scheduler,
    once_across_replicas,
    schedule_handovers,
)
from bot.app.stopping import DRAIN_SECONDS, end_loops, tell_cut_short
from bot.app.stores import build_store
from bot.app.supervisor import supervise
from bot.catalogue import Catalogue
from bot.domain.effects import OPERATORS, AlertOperators
from bot.domain.effects.slack import ArchiveChannel, LearnBotBack, LearnChannelName, PostHandover, ReadKeyMessage
from bot.domain.incident import ChannelPolicy
from bot.domain.ticket_rules import TicketRules
from bot.metrics import Metrics
from bot.ports import Clock
from bot.services.actions import IncidentActions
from bot.services.archiving import Archiving
from bot.services.card_refreshes import CardRefreshes, scheduled_refresh_budget
from bot.services.channel_events import ChannelEvents
from bot.services.contributions import Contributions
from bot.services.coordination_effects import CoordinationEffects
from bot.services.dispatcher import Dispatcher, RetryPolicy
from bot.services.executor import EffectExecutor
from bot.services.handovers import GRACE, Handovers
from bot.services.home import AppHome
from bot.services.intake import PagerDutyIntake, ServiceNowIntake
from bot.services.people import People
from bot.services.reports.incident_reports import IncidentReports
from bot.services.retention import Retention
from bot.services.retries import PRODUCTION
from bot.services.reviews import Reviews
from bot.services.ticket_pages import raise_given_up
from bot.services.ticket_sync import TicketSync
from bot.services.toolkit import IncidentToolkit
from bot.services.worker import IncidentWorker
from commands.in_flight import STOPPING, DrainingApp, InFlight

log = logging.getLogger(__name__)
# The operators were told ServiceNow refuses the credentials (the Deduplication port's key), and for how long that
# stands while the refusal lasts.
CREDENTIALS_REFUSED_TOLD, CREDENTIALS_TOLD_SECONDS = "servicenow:credentials-refused:told", 86_400.0
PAGERDUTY_KEY_REFUSED_TOLD = "pagerduty:api-key-refused:told"
# A loop that has not gone round for this long is reported not ready.
STALL_SECONDS = 30.0


class Bot:
    def __init__(self, settings: Settings, catalogue: Catalogue, *, clock: Clock | None = None,
                 retry_policy: RetryPolicy | None = None, replica_id: str | None = None,
                 wake_dispatcher: Callable[[], None] | None = None, drain_seconds: float = DRAIN_SECONDS) -> None:
        self.settings, self.catalogue = settings, catalogue
        # Set in the applier's own process (bot/app/applier.py): the dispatcher it wakes runs in the web process.
        self._dispatcher_elsewhere = wake_dispatcher
        self.clock: Clock = clock or SystemClock()
        self.metrics = Metrics()
        # This replica among those sharing the store: who holds its effects' leases and claims its jobs' slots. Its
        # host and port, which no two live processes share, and which a restarted process gets back (see start()).
        self.replica_id = replica_id or f"{socket.gethostname()}:{settings.port}"
        self.store = build_store(settings.database_url, settings.db_path)
        self._readiness = Readiness(self.store)
        # Slack's rate budget is the app's, whatever the number of replicas: taken from the store, shared by all.
        self.chat = SlackChat(settings.slack_bot_token, settings.slack_api_url, self.metrics,
                              settings.slack_rate_limit_scale, budget=self.store)
        self.paging = PagerDutyPaging(settings.pagerduty_api_token, settings.pagerduty_api_url, self.metrics)
        self.pagerduty_key = PagerDutyApiKey(
            self.paging.priorities, lambda text: self._tell_operators_once(text, PAGERDUTY_KEY_REFUSED_TOLD),
            may_tell_again=lambda: self.store.forget(PAGERDUTY_KEY_REFUSED_TOLD))
        self.people = People(self.store, self.paging, self.chat, self.clock)
        self.tickets = ServiceNowTickets(settings.servicenow, self.metrics, integration_field=(
            catalogue.servicenow.pagerduty_integration_field)) if settings.servicenow else None
        self.servicenow_credentials = self._servicenow_credentials()
        ticket_sync = TicketSync(self.store, self.tickets, self.paging, catalogue, self.clock,
                                 settings.servicenow.username) if self.tickets and settings.servicenow else None
        self.handovers = Handovers(self.store, self.paging, self.chat, self.people, catalogue, self.clock,
                                   self._wake_dispatcher, homes=lambda rota: self.home.refresh_rota(rota))
        # After the incident (issue 15): reviews drafted and attached, channels archived, both through the outbox.
        self.reviews = Reviews(self.store, self.chat, self.tickets, catalogue, self.clock, self._wake_dispatcher)
        self.archiving = Archiving(self.store, self.chat, self.reviews, catalogue, self.clock, self._wake_dispatcher)
        # The incident manager's toolkit (issue 14): roles, status updates, priority, reminders.
        coordination = CoordinationEffects(self.store, self.chat, self.paging, self.people, catalogue, self.clock)
        self.home = AppHome(self.store, self.chat, self.paging, self.people, catalogue, self.clock)
        # The scheduled card refreshes spend at most a share of chat.update's budget at the bot's pace (none: unpaced).
        scale = settings.slack_rate_limit_scale
        self.card_refreshes = CardRefreshes(self.store, catalogue, self.clock, self._wake_dispatcher,
                                            scheduled_refresh_budget(TIERS["chat.update"] * scale if scale > 0
                                                                     else None))
        # Key messages and follow-ups (issue 15): a marked message is read back through the outbox.
        self.contributions = Contributions(self.store, self.chat, catalogue, self.clock, self._wake_worker)
        self.executor = EffectExecutor(self.store, self.chat, self.people, catalogue, self.clock, ticket_sync,
                                       self.handovers, coordination=coordination, reviews=self.reviews,
                                       archiving=self.archiving, home=self.home, contributions=self.contributions)
        policy = retry_policy or PRODUCTION  # (Slack's effects outlast an hour's outage: RetryPolicy.for_slack)
        patient = policy.patient()  # ServiceNow's outages last minutes to hours: retried for about 12 hours
        self.dispatcher = Dispatcher(self.store, self.executor, self.clock, self.metrics, policy,
                                     # PagerDuty: only the handover follow-up that fills in names queues there. A
                                     # marked message is read once Slack gives it, as patiently (its queue holds up
                                     # nothing else), and so is what a channel event asks of Slack (its name, whether
                                     # the bot is back: Slack sends the event once). A handover post outlasts a Slack
                                     # outage while it is news, and a channel's archiving (queued once per resolve)
                                     # is not lost to one.
                                     policies={"servicenow": patient, "pagerduty": patient,
                                               ReadKeyMessage.kind: patient, ArchiveChannel.kind: patient,
                                               LearnChannelName.kind: patient, LearnBotBack.kind: patient,
                                               PostHandover.kind: policy.lasting(GRACE), "slack": policy.for_slack()},
                                     owner=self.replica_id, lease_seconds=settings.lease_seconds,
                                     concurrency=settings.effect_concurrency, reads=self.executor.reads,
                                     # While Slack refuses the token, or ServiceNow the credentials, that system's
                                     # effects wait rather than fail and die.
                                     paused=self._refused,
                                     # A page's raise given up: its incident no longer holds it high.
                                     given_up=lambda effect: raise_given_up(self.store, self.clock, effect))
        rules = TicketRules(settings.servicenow.username, {t.servicenow_group.lower(): t.id for t in catalogue.teams
                                                           if t.servicenow_group}, catalogue.servicenow.page_category,
                            catalogue.servicenow.urgency_priorities()) if settings.servicenow else None
        pagerduty_webhook = PagerDutyWebhook(settings.pagerduty_webhook_secrets)
        servicenow_webhook = ServiceNowWebhook(settings.servicenow.webhook_secret, settings.servicenow.username) \
            if settings.servicenow else None
        self.worker = IncidentWorker(self.store, _channel_policy(catalogue, tickets=rules is not None), self.clock,
                                     self._wake_dispatcher, rules, pagerduty=pagerduty_webhook,
                                     servicenow=servicenow_webhook, on_homes=self.home.refresh_soon)
        # PAVEDROAD_APPLIER=process: the worker applies the inbox in a child process (bot/app/applier.py).
        self.applier = ApplierProcess(settings, catalogue, self.replica_id, self.clock, self._wake_dispatcher) \
            if settings.applier == "process" else None
        # Inline (the worker in this process), deliveries are applied as they are stored when nothing waits before
        # them (bot/services/intake.py); with the applier process, the web process only stores them.
        on_arrival = self.worker if self.applier is None else None
        self.intake = PagerDutyIntake(self.store, pagerduty_webhook, self._wake_worker, self._arrived, on_arrival)
        self.servicenow_intake = ServiceNowIntake(self.store, servicenow_webhook, self._wake_worker, self._arrived,
                                                  on_arrival) if servicenow_webhook else None
        self.actions = IncidentActions(self.store, self.paging, self.chat, catalogue, self.clock)
        self.toolkit = IncidentToolkit(self.store, self.actions, self.chat, self.paging, catalogue, self.clock,
                                       self._wake_worker, tickets=ticket_sync is not None)
        self.reports = IncidentReports(self.store, catalogue)
        self.retention = Retention(self.store, catalogue, self.clock, self.metrics)
        self.slack_app = self._slack_app()
        self._tasks: list[asyncio.Task[None]] = []
        self.scheduler: AsyncIOScheduler | None = None
        # The one stop under way or done: a signal handler and the web app's cleanup may both ask for it.
        self._stopped: asyncio.Future[None] | None = None
        # How long a stop gives the work already acknowledged to finish and answer (DRAIN_SECONDS; less in tests).
        self.drain_seconds = drain_seconds

    def _servicenow_credentials(self) -> ServiceNowCredentials | None:
        """Whether ServiceNow accepts the bot's credentials: told by every call, watched while it refuses them; its
        refusal is said once in the operators' channel, and ServiceNow's effects go on once they are accepted."""
        if self.tickets is None or self.settings.servicenow is None:
            return None
        credentials = ServiceNowCredentials(self.settings.servicenow.username, self.tickets.check_credentials,
                                            self.clock, metrics=self.metrics)
        self.tickets.judge_refusal, self.tickets.on_accepted = credentials.judge, credentials.accepted
        credentials.on_refusal_began, credentials.on_accepted = self._tell_operators_once, self._wake_dispatcher
        credentials.on_refusal_ended = self._may_tell_operators_again
        return credentials

    async def _tell_operators_once(self, text: str, key: str = CREDENTIALS_REFUSED_TOLD) -> None:
        """The operators' alert that ServiceNow refuses the credentials (or PagerDuty the key: `key`): once across the
        replicas sharing the store (each sees the refusal), and once across restarts while it lasts (up to a day):
        claimed and queued in one transaction (as two writes, a crash between them lost the alert while it lasted)."""
        now = self.clock.now().timestamp()
        if await self.store.first_time_then_queue(key, CREDENTIALS_TOLD_SECONDS, now, AlertOperators(OPERATORS, text),
                                                  priority=0):
            self._wake_dispatcher()

    async def _may_tell_operators_again(self) -> None:
        await self.store.forget(CREDENTIALS_REFUSED_TOLD)

    def _refused(self, lane: str) -> bool:
        """Whether `lane`'s system refuses our own credentials (its effects wait: bot/services/retries.py)."""
        if lane == "slack":
            return self.identity.refused is not None
        return lane == "servicenow" and self.servicenow_credentials is not None \
            and self.servicenow_credentials.refused is not None

    def _wake_worker(self) -> None:
        (self.applier.wake if self.applier is not None else self.worker.wake)()

    def _wake_dispatcher(self) -> None:
        (self._dispatcher_elsewhere or self.dispatcher.wake)()

    def _arrived(self) -> str:
        """When a delivery arrived (ISO 8601), for a sender that does not say when its event happened."""
        return self.clock.now().isoformat()

    def _slack_app(self) -> AsyncApp:
        client = AsyncWebClient(token=self.settings.slack_bot_token,
                                base_url=self.settings.slack_api_url or "https://slack.com/api/")
        quiet_token_warnings()
        # Who the bot is in Slack is learnt when it starts (start()), never while a request waits: Bolt's own
        # authorization would ask auth.test before the first request's ack (identity.py says why that hurts).
        self.identity = SlackIdentity(self.chat.identity, self.settings.slack_bot_token, metrics=self.metrics)
        # A call answered "token revoked" says so at once; once Slack accepts the token again, Slack's effects go on.
        self.chat.on_refused, self.identity.on_accepted = self.identity.refused_by, self._wake_dispatcher
        authorize, before_authorize = self.identity.bolt_hooks()
        # Every request Bolt is handed (HTTP or Socket Mode) is refused while the bot stops, or else under way.
        app = DrainingApp(InFlight(), client=client, signing_secret=self.settings.slack_signing_secret,
                          authorize=authorize, before_authorize=before_authorize)
        self.interactions = SlackInteractions(client, self.chat)
        self.responses = commands.register(app, self.actions, self.interactions, self.store, self.clock,
                                           handovers=self.handovers, reports=self.reports,
                                           contributions=self.contributions, reviews=self.reviews,
                                           toolkit=self.toolkit, home=self.home, revoked=self.identity.revoked,
                                           channels=ChannelEvents(self.store, self.clock, self._wake_dispatcher))
        return app

    async def start(self) -> None:
        self._stopped = None
        await self.store.open()
        # Leases held under this replica's id are its previous run's, which died with its calls: resume them now
        # rather than wait for them to run out (other replicas' leases are left alone) — as cut short, their calls'
        # answers unheard (an opening's retry looks for a channel that attempt may have made and people renamed).
        if released := await self.store.lapse_leases(self.replica_id):
            log.warning("resuming %d effect(s) this replica (%s) was performing when it stopped", released,
                        self.replica_id)
        applier = self.applier
        self._tasks = [asyncio.create_task(
            supervise("applier", applier.run, lambda: applier.heartbeat) if applier is not None
            else supervise("worker", self.worker.run, lambda: self.worker.heartbeat)),
                       asyncio.create_task(supervise("dispatcher", self.dispatcher.run,
                                                     lambda: self.dispatcher.heartbeat))]
        # Asked once per process, retried in the background while Slack fails, and again when Slack refuses the token.
        self._tasks.append(asyncio.create_task(self._watch_identity()))
        self._tasks.append(asyncio.create_task(self.pagerduty_key.watch()))  # asked once, again while refused
        if self.servicenow_credentials is not None:  # asks again while ServiceNow refuses the credentials
            self._tasks.append(asyncio.create_task(self.servicenow_credentials.watch()))
        notes_minutes = self.catalogue.servicenow.work_note_minutes
        # Every job runs on one replica per slot (the JobRuns port), whichever replica claims it.
        self.scheduler = build_scheduler(
            self._once("refresh-open-cards", CARD_REFRESH_MINUTES, self.refresh_open_cards),
            self._once("flush-work-notes", notes_minutes, self.flush_work_notes) if self.tickets else None,
            card_refresh_minutes=CARD_REFRESH_MINUTES, work_note_minutes=notes_minutes,
            refresh_money_cards=self._once("refresh-money-at-stake", MONEY_REFRESH_MINUTES,
                                           self.refresh_money_at_stake),
            handover_checks=self._handover_checks(self.catalogue),
            archive_channels=self._once("archive-channels", ARCHIVE_CHECK_MINUTES, self.archive_resolved_channels),
            remind_status_updates=self._once("remind-status-updates", REMINDER_CHECK_MINUTES,
                                             self.toolkit.remind_due),
            prune_store=self._once("prune-store", RETENTION_MINUTES, self.retention.prune))
        self.scheduler.start()

    async def _watch_identity(self) -> None:
        await self.identity.watch()

    @property
    def running(self) -> bool:
        """Whether the background loops (worker, dispatcher) run: from `start()` until `stop()`."""
        return bool(self._tasks)

    def reload_rotas(self, catalogue: Catalogue) -> None:
        """A reloaded catalogue's rotas take effect at once: handovers use them and their jobs are rebuilt, and the
        App Home builds from it (whose teams and rotas; whose Homes a rota's change refreshes). The rest of the
        catalogue (services' channels, tickets, reviews) is read at start-up; the log says so."""
        self.handovers.use(catalogue)
        self.home.use(catalogue)
        if self.scheduler is not None:
            schedule_handovers(self.scheduler, self._handover_checks(catalogue))
        log.info("catalogue reloaded: %d rota(s) (%s) now drive handovers and App Homes; other catalogue changes take "
                 "effect at the next restart", len(catalogue.rotas), ", ".join(r.id for r in catalogue.rotas) or "none")

    def _once(self, job: str, every_minutes: float, run: Job) -> Job:
        """A scheduled job that runs on one replica per slot (see bot/app/scheduler.py)."""
        return once_across_replicas(job, timedelta(minutes=every_minutes), run, self.store, self.replica_id,
                                    self.clock, self.in_flight)

    def _handover_checks(self, catalogue: Catalogue) -> dict[str, Job]:
        return {r.id: self._once(f"handover:{r.id}", 1, self._handover_check(r.id)) for r in catalogue.rotas}

    def _handover_check(self, rota_id: str) -> Callable[[], Awaitable[str | None]]:
        async def check() -> str | None:
            return await self.handovers.tick(rota_id)
        return check

    async def flush_work_notes(self) -> int:
        """Queue the batched work notes: every ticket whose incident has timeline lines it has not been told."""
        queued = await self.store.queue_ticket_syncs(self.clock.now().timestamp())
        if queued:
            self.dispatcher.wake()
        return queued

    async def archive_resolved_channels(self) -> int:
        """The archiving job: queue the archiving of resolved incidents' channels now due (`channels.archive_after`)."""
        return await self.archiving.queue_due()

    async def refresh_open_cards(self) -> int:
        """The five-minute job: open cards not refreshed for that long, within Slack's budget (CardRefreshes)."""
        return await self.card_refreshes.elapsed_time(CARD_REFRESH_MINUTES)

    async def refresh_money_at_stake(self) -> int:
        """The minute job: cards whose money at stake has moved a step, within Slack's budget (CardRefreshes), so
        the money on each card stays true to the minute while few are open, and every few minutes in a storm."""
        return await self.card_refreshes.money_at_stake(MONEY_REFRESH_MINUTES)

    async def stop(self) -> None:
        """Stop the loops and the jobs, then close every client and the store, once: a second call (at once, or
        later) waits for the first stop and returns with it, rather than closing what is closed already. A caller
        cancelled while it waits leaves the stop to finish."""
        if self._stopped is None:
            self._stopped = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopped)

    @property
    def in_flight(self) -> InFlight:
        """What the bot has accepted and not finished (commands/in_flight.py): the doors ask it whether new work is
        taken, and the stop drains it."""
        return self.responses.in_flight

    async def _stop(self) -> None:
        # A graceful drain, as on SIGTERM: first no new command, click, form or webhook (each door refuses them so
        # that they are sent again, to another replica or to this one restarted), and no new scheduled job.
        self.in_flight.stop_taking()
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.pause()  # not shut down yet: that would cancel the jobs running, which the drain waits for
        # Then the work already acknowledged and the scheduled jobs running get `drain_seconds` to finish, the rest
        # is cut short (and logged), while the loops stop beside it; only then are the clients and the store closed.
        _, cut = await asyncio.gather(self._stop_loops(), self.responses.drain(self.drain_seconds))
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await tell_cut_short(self.store, self.clock, cut)
        await self.interactions.close()
        await self.home.close()
        if self.tickets is not None:
            await self.tickets.close()
        await self.paging.close()
        await self.chat.close()
        await self.store.close()

    async def _stop_loops(self) -> None:
        # Not `running` once the loops have ended, while the drain beside them may go on.
        await end_loops(self._tasks)
        self._tasks = []

    async def readiness(self) -> dict[str, object]:
        """What /readyz reports (bot/app/readiness.py): the store answers, within a time limit, and the worker and
        dispatcher loops go round; and whether Slack accepts the bot's token (bot/adapters/slack/identity.py),
        PagerDuty its API key (bot/adapters/pagerduty/api_key.py) and ServiceNow its credentials. Not ready from the
        moment a stop begins, which takes no new work (commands/in_flight.py): the reason is said, rather than loops
        seen stopped or a closed store."""
        if not self.in_flight.taking:
            return {"ready": False, "stopping": STOPPING}
        now = self.clock.now().timestamp()
        worker = self.applier.heartbeat if self.applier is not None else self.worker.heartbeat
        loops = {name: self.running and now - beat < STALL_SECONDS
                 for name, beat in (("worker", worker), ("dispatcher", self.dispatcher.heartbeat))}
        # Whether Slack accepts the token, and ServiceNow the credentials: said, never a reason to be unready (intake
        # needs neither).
        credentials = self.servicenow_credentials
        return {**await self._readiness.report(loops), "slack": self.identity.state(),
                "pagerduty": self.pagerduty_key.state(),
                **({"servicenow": credentials.state()} if credentials is not None else {})}

    async def settle(self, within: float = 10.0) -> None:
        """Wait until the inbox is drained and no effect is pending or in flight (tests, benchmarks); what this
        version leaves for a newer one aside."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            depths = await self.store.depths()
            left = (await self.store.left_for_newer_version())["records"] if depths["inbox_pending"] else 0
            if depths["inbox_pending"] == left and await self.dispatcher.idle():
                return
            self._wake_worker()
            self.dispatcher.wake()
            await asyncio.sleep(0.01)
        raise TimeoutError(f"bot did not settle within {within}s: {await self.store.depths()}")


def _channel_policy(catalogue: Catalogue, tickets: bool = False) -> ChannelPolicy:
    wanted = catalogue.channels.dedicated_channel_for
    manager = catalogue.incident_manager.escalation_policy_id if catalogue.incident_manager else None
    return ChannelPolicy(wanted if isinstance(wanted, str) else frozenset(wanted), tickets=tickets,
                         incident_manager_policy=manager, homes=True, reviews_on_resolve=catalogue.review.on_resolve)
