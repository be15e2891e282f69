"""Prometheus metrics, one registry per running bot (so tests can run several bots in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.ports.retention import PRUNED_TABLES


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhook_seconds = Histogram(
            "pavedroad_webhook_handling_seconds", "Time from webhook received to answered, by source and outcome",
            ["source", "outcome"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.calls = Counter("pavedroad_outside_calls_total", "Calls to Slack/PagerDuty/ServiceNow by outcome",
                             ["service", "method", "outcome"], registry=self.registry)
        self.effects = Counter("pavedroad_effects_total", "Outbox effects performed, by kind and outcome",
                               ["kind", "outcome"], registry=self.registry)
        self.inbox_depth = Gauge("pavedroad_inbox_pending", "Inbox rows waiting for the worker",
                                 registry=self.registry)
        self.outbox_depth = Gauge("pavedroad_outbox_pending", "Outbox effects waiting to be performed",
                                  registry=self.registry)
        self.failed_events = Gauge("pavedroad_inbox_failed", "Deliveries quarantined because they could not be "
                                   "applied (`pavedroad inbox failed` lists them)", registry=self.registry)
        self.dead_effects = Gauge("pavedroad_outbox_dead", "Effects parked as dead after repeated failures",
                                  registry=self.registry)
        self.slack_token_refused = Gauge("pavedroad_slack_token_refused", "1 while Slack refuses SLACK_BOT_TOKEN (the "
                                         "app uninstalled, its token revoked): /readyz's `slack` says what to do",
                                         registry=self.registry)
        self.servicenow_credentials_refused = Gauge(
            "pavedroad_servicenow_credentials_refused", "1 while ServiceNow refuses the integration user's credentials "
            "(HTTP 401: its password expired or changed, the user locked out): /readyz's `servicenow` says what to do",
            registry=self.registry)
        self.pruned_rows = Counter("pavedroad_store_pruned_rows_total", "Rows the retention job pruned, by table "
                                   "(inbox, outbox, seen_once, job_runs, rate_buckets)", ["table"],
                                   registry=self.registry)
        for table in PRUNED_TABLES:  # at 0 from the start (not only after the first prune): alerts can read them
            self.pruned_rows.labels(table)
        self._calls: dict[tuple[str, str, str], Counter] = {}

    def call(self, service: str, method: str, outcome: str) -> Counter:
        """The outside calls' counter for these labels. Kept, since every call counts itself and `labels` looks the
        child up under a lock, from its labels made strings, each time; a child is never removed, so the one kept is
        the one `labels` would give."""
        key = (service, method, outcome)
        child = self._calls.get(key)
        if child is None:
            child = self._calls[key] = self.calls.labels(service, method, outcome)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)
