"""The operators' alert for a delivery set aside because it could not be applied (see the Inbox port)."""

from __future__ import annotations

from bot.domain.alert_text import plain
from bot.domain.effects import AlertOperators


def delivery_quarantined(reference: str, source: str, event_type: str, incident_id: str | None,
                         reason: str) -> AlertOperators:
    """The one operators' alert for a delivery set aside because it could not be applied (see the Inbox port), in
    one thread per sender and event type: a flood of deliveries the bot cannot read is one alert and its thread."""
    sender = {"pagerduty": "PagerDuty", "servicenow": "ServiceNow"}.get(source, plain(source))
    about = f", incident {plain(incident_id)}" if incident_id else ""
    return AlertOperators.grouped(f"quarantined:{source[:40]}:{event_type[:100]}", (
        f"🚨 Paved Road set aside a delivery it could not apply — reference `{reference}`: {sender} "
        f"{plain(event_type)}{about}. Reason: {plain(reason[:500])}. The deliveries after it are being applied. "
        f"`pavedroad inbox failed` lists it and the bot's logs have the details under the reference; once the cause "
        f"is fixed, `pavedroad inbox retry {reference}` applies it again."))
