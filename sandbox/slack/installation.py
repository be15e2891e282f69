"""The app's installation in the sandbox Slack workspace: its bot token revoked, the app uninstalled and installed
again, as a workspace admin would, and the Events API events Slack then sends the app.

Control routes (sandbox only), each answering once the bot has settled:
  POST /sandbox/slack/revoke     the bot token revoked (auth.revoke, or an admin revoking it on the app's page)
  POST /sandbox/slack/uninstall  the app removed from the workspace
→ 200 {"events": [{"type", "status"}, …]} (what was sent, as person.py reports events)
  POST /sandbox/slack/install    the app installed again → 200 {"bot_token": the new xoxb- token}

What Slack does, kept here:
- A revoked bot token is answered `token_revoked` by every Web API method, and the bot token of an uninstalled app
  `account_inactive` (both with HTTP 200 and `ok: false`, as Slack's auth.test and chat.postMessage list them);
  a token the workspace never issued stays `invalid_auth`.
- Revoking a bot token deactivates the bot user and removes it from its channels (auth.revoke's documentation); the
  app stays installed, so people can still run its slash command and click its buttons, and its response URLs
  (which take no token) still answer them. Uninstalling removes it from its channels too, and the slash command and
  buttons with it: the sandbox's command and click routes refuse them (409).
- Slack sends `tokens_revoked` (`tokens.bot`: the bot user ids whose tokens were revoked; no `oauth` key, since
  the app holds no user token) and, on an uninstall, `app_uninstalled` too, to an app subscribed to them (neither
  needs a scope). Slack does not promise their order; the sandbox sends `tokens_revoked` first.
- Installing again after either issues a new bot token (the old one stays refused); the bot user is back, in no
  channel. (A reinstall of an app whose token works, for new scopes, keeps the token.)
"""

from __future__ import annotations

import secrets

from aiohttp import web

from sandbox.slack.model import JSON
from sandbox.slack.person import deliver_events, subscribed
from sandbox.slack.workspace import SlackWorkspace


def revoke(slack: SlackWorkspace, error: str = "token_revoked") -> list[JSON]:
    """Refuse the bot token from now on with `error`; the bot user leaves its channels. The events Slack sends."""
    slack.refused_tokens[slack.bot_token] = error
    for channel in slack.channels.values():
        if slack.bot.id in channel.members:
            channel.members.remove(slack.bot.id)
    event: JSON = {"type": "tokens_revoked", "tokens": {"bot": [slack.bot.id]}}
    return subscribed(slack, [("tokens_revoked", event)])


def uninstall(slack: SlackWorkspace) -> list[JSON]:
    """The app removed from the workspace: its token refused as an uninstalled app's is, its commands gone."""
    events = revoke(slack, "account_inactive")
    slack.installed = False
    return events + subscribed(slack, [("app_uninstalled", {"type": "app_uninstalled"})])


def install(slack: SlackWorkspace) -> str:
    """The app installed again: after a revoke or an uninstall, a new bot token, which the bot must be given
    (SLACK_BOT_TOKEN) to act again; else the token it has (a reinstall for new scopes keeps it)."""
    if slack.bot_token in slack.refused_tokens:
        slack.bot_token = f"xoxb-{secrets.randbelow(10**12):012d}-{secrets.token_hex(12)}"
    slack.installed = True
    return slack.bot_token


def add_routes(app: web.Application, slack: SlackWorkspace) -> None:
    async def revoked(request: web.Request) -> web.Response:
        return web.json_response({"events": await deliver_events(slack, revoke(slack))})

    async def uninstalled(request: web.Request) -> web.Response:
        if not slack.installed:
            return web.json_response({"error": "the app is not installed"}, status=409)
        return web.json_response({"events": await deliver_events(slack, uninstall(slack))})

    async def installed(request: web.Request) -> web.Response:
        return web.json_response({"bot_token": install(slack)})

    app.router.add_post("/sandbox/slack/revoke", revoked)
    app.router.add_post("/sandbox/slack/uninstall", uninstalled)
    app.router.add_post("/sandbox/slack/install", installed)
