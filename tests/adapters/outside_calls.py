"""The `pavedroad_outside_calls_total` counter's series, read as Prometheus scrapes them (for the adapters' tests)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics


def outside_calls(metrics: Metrics) -> dict[tuple[str, str, str], float]:
    """The counter's series by (service, method, outcome)."""
    family = next(f for f in text_string_to_metric_families(metrics.render().decode())
                  if f.name == "pavedroad_outside_calls")
    return {(s.labels["service"], s.labels["method"], s.labels["outcome"]): s.value
            for s in family.samples if s.name == "pavedroad_outside_calls_total"}
