"""The HTTP surface: webhook intake, Slack events, health, readiness and metrics."""
