"""Bolt's log as the bot's operators read it: warnings about the token that do not apply to how the bot builds its
AsyncApp are left out (`quiet_token_warnings`)."""

from __future__ import annotations

import logging

from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped, warning_token_skipped


class TokenInTheClient(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when given a client, and warns that the token "will be
    unused", and, given an `authorize` hook, that it "will be ignored": the client the bot gives it and the hook
    (bot/adapters/slack/identity.py) carry that very token, so the warnings only alarm whoever reads the log."""

    WARNINGS = frozenset({warning_client_prioritized_and_token_skipped(), warning_token_skipped()})

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.WARNINGS


def quiet_token_warnings() -> None:
    """Filter those warnings out of the logger Bolt's AsyncApp warns on (once, however many bots a process builds)."""
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, TokenInTheClient) for f in bolt_log.filters):
        bolt_log.addFilter(TokenInTheClient())
