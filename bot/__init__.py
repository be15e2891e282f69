"""Paved Road: PagerDuty incidents become ready public Slack channels, acted on from Slack, in step with ServiceNow."""

__version__ = "0.1.0"
