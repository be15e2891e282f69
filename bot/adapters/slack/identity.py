"""Slack adapter: who the bot is in Slack (auth.test), learnt once when the bot starts, and Bolt's `authorize` hook.

Bolt's own single-workspace authorization asks auth.test on the first request after a start, before any listener
runs and before the ack, and again on every later request for as long as it fails. A deploy in the middle of an
outage, when Slack is slow or rate-limiting, then cost every command its answer: Slack's three seconds spent waiting
for auth.test ("operation_timeout"), or a failed auth.test answered with Bolt's "your installation with this app is no
longer available. Please reinstall this app", and one more auth.test per request for a rate limit already hit.

Here `learn()` asks once when the bot starts and, if Slack fails, again in the background (Slack's Retry-After, else
exponential backoff with full jitter) until it answers. `authorize()` never calls Slack: every request is served with
the token at once. While the identity is unknown, the bot user's id is the one the event itself names (an event's
`authorizations`, the installation it was sent for: the bot user, for a bot token), so that Bolt still drops the
bot's own events (its IgnoringSelfEvents, which compares the event's user with the bot user); the bot id, which
nothing of ours needs, waits for auth.test.

A token Slack refuses for good (invalid_auth, token_revoked, …) is logged as an ERROR saying what to do, counted in
the `pavedroad_slack_token_refused` gauge and shown in /readyz (`state()`): at start, and equally later, when the app
is uninstalled or its token revoked while the bot runs — Slack's `tokens_revoked` and `app_uninstalled` events, or
any Web API call answered so (`refused_by`, which chat.py calls). auth.test is then asked again at once (`watch`) and
now and then after, since only a new token normally mends it (Slack has also said invalid_auth in its own outages):
once it answers, the token is accepted again and `on_accepted` is told (the dispatcher's Slack lane, paused while
the token is refused, goes on).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.errors import IntegrationError
from bot.metrics import Metrics

log = logging.getLogger(__name__)

# Backoff between attempts while Slack fails: full jitter over base·2ⁿ, capped (Slack's Retry-After wins when longer).
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
# A refused token is asked again this often: Slack has answered invalid_auth in its own outages.
REFUSED_RECHECK_SECONDS = 300.0
# The context key (Bolt's request context) for the bot user an event names, set before authorization.
EVENT_BOT_USER = "pavedroad_event_bot_user"

_REINSTALL = ("the app was uninstalled, its token revoked or its bot user deactivated: reinstall the app to the "
              "workspace (its OAuth & Permissions page), put its new Bot User OAuth Token (xoxb-…) in SLACK_BOT_TOKEN "
              "and restart the bot")
_WRONG_TOKEN = ("SLACK_BOT_TOKEN is not a token Slack accepts: set it to the app's Bot User OAuth Token (xoxb-…, on "
                "the app's OAuth & Permissions page) and restart the bot")
_UNINSTALLED = ("the app was uninstalled from the workspace: a workspace admin reinstalls it (the app's OAuth & "
                "Permissions page); put its new Bot User OAuth Token (xoxb-…) in SLACK_BOT_TOKEN and restart the "
                "bot")
# Slack's answers that say the token itself is refused, whatever the moment: trying again at once cannot help.
REFUSED: Mapping[str, str] = {
    "not_authed": _WRONG_TOKEN, "invalid_auth": _WRONG_TOKEN,
    "not_allowed_token_type": "SLACK_BOT_TOKEN holds another kind of token (an app-level xapp- token belongs in "
                              "SLACK_APP_TOKEN): set it to the app's Bot User OAuth Token (xoxb-…) and restart the bot",
    "token_revoked": _REINSTALL, "token_expired": _REINSTALL, "account_inactive": _REINSTALL,
}
# What to do, by what said the token is refused: Slack's answer to a call, or one of its events.
FIXES: Mapping[str, str] = {**REFUSED, "tokens_revoked": _REINSTALL, "app_uninstalled": _UNINSTALLED}
# Slack's events say why, a call's refusal only that: an event's reason is kept over later calls' (and an uninstall
# over the revoke that comes with it, in whichever order Slack sends them).
_SAYS_MORE: Mapping[str, int] = {"tokens_revoked": 1, "app_uninstalled": 2}


@dataclass(frozen=True)
class BotIdentity:
    """What auth.test says of the bot's token."""

    team_id: str | None
    user_id: str
    bot_id: str | None
    enterprise_id: str | None = None
    scopes: str | None = None  # Slack's X-OAuth-Scopes header: what the token may do


class SlackIdentity:
    def __init__(self, ask: Callable[[], Awaitable[BotIdentity]], token: str, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, metrics: Metrics | None = None) -> None:
        self._ask = ask  # auth.test (SlackChat.identity)
        self._token = token
        self._sleep = sleep
        self._metrics = metrics
        self.known: BotIdentity | None = None
        # The code Slack refused the token with (a key of FIXES), and where it said so, until it accepts it.
        self.refused: str | None = None
        self.refused_on: str | None = None
        self.last_failure: str | None = None
        # Told when Slack accepts the token again after refusing it.
        self.on_accepted: Callable[[], None] | None = None
        # Set by a refusal seen elsewhere (a call, an event): `watch` asks auth.test again.
        self._doubted = asyncio.Event()

    async def watch(self) -> None:
        """Learn who the bot is, then again whenever Slack is seen refusing the token, until it accepts it (run in the
        background from the bot's start; cancelled at its stop)."""
        while True:
            if self.known is None or self.refused is not None:  # else known already: this process asked before
                await self.learn()
            await self._doubted.wait()
            self._doubted.clear()

    def refused_by(self, code: str, where: str) -> None:
        """Slack refused the token: `code`, a key of FIXES, said by `where` (the method answered so, or the event).
        Said at once — an ERROR naming the fix, the gauge, /readyz — and auth.test is asked again (`watch`)."""
        self._refuse(code, where)
        self._doubted.set()

    def revoked(self, event: str, bot_users: Sequence[str]) -> None:
        """Slack's `app_uninstalled`, or `tokens_revoked` naming the bot users whose tokens it revoked: refused, when
        the bot's own token is among them (Slack names users, not tokens; this app holds only its bot token)."""
        if event not in FIXES:
            return
        if event == "tokens_revoked":
            ours = self.known.user_id if self.known is not None else None
            if not bot_users or (ours is not None and ours not in bot_users):
                log.info("Slack revoked tokens of this app's that are not SLACK_BOT_TOKEN (%s): nothing to do",
                         ", ".join(bot_users) or "user tokens")
                return
        self.refused_by(event, f"{event} event")

    def _refuse(self, code: str, where: str) -> None:
        if self.refused is None:  # said once, when it begins: every call fails alike until the token is replaced
            log.error("Slack refuses SLACK_BOT_TOKEN (%s: %s): %s. Until then the bot cannot act in Slack (incident "
                      "channels, cards and messages wait, none is dropped); PagerDuty's webhooks are still stored",
                      where, code, FIXES[code])
            if self._metrics is not None:
                self._metrics.slack_token_refused.set(1)
        if _SAYS_MORE.get(code, 0) >= _SAYS_MORE.get(self.refused or "", 0):
            self.refused, self.refused_on = code, where

    async def learn(self) -> BotIdentity:
        """Ask Slack who the bot is until it says (run in the background from the bot's start; cancelled at its
        stop). Failures are logged, each new reason once, and retried; a refused token is an ERROR."""
        attempt = 0
        while True:
            try:
                identity = await self._ask()
            except IntegrationError as error:
                wait = self._failed(error, attempt)
            except Exception as error:  # not Slack's answer (the rate budget's store, say): still retried
                if f"{error.__class__.__name__}: {error}" != self.last_failure:
                    log.exception("asking Slack who the bot is (auth.test) failed; asking again in the background")
                self.last_failure = f"{error.__class__.__name__}: {error}"
                wait = _backoff(attempt)
            else:
                refused = self.refused
                self._doubted.clear()  # refusals seen before this answer are past
                if refused is not None or self.last_failure is not None:
                    log.info("Slack now accepts SLACK_BOT_TOKEN: the bot is %s (%s)", identity.user_id,
                             identity.bot_id)
                self.known, self.refused, self.refused_on, self.last_failure = identity, None, None, None
                if refused is not None:
                    if self._metrics is not None:
                        self._metrics.slack_token_refused.set(0)
                    if self.on_accepted is not None:
                        self.on_accepted()
                return identity
            attempt += 1
            await self._sleep(wait)

    def _failed(self, error: IntegrationError, attempt: int) -> float:
        """Log the failure (a reason once, not at every attempt) and say how long to wait before the next."""
        text, code = str(error), error.code
        if code is not None and code in REFUSED:
            self._refuse(code, "auth.test")
            self.last_failure = text
            return REFUSED_RECHECK_SECONDS
        if text != self.last_failure:
            log.warning("could not ask Slack who the bot is (%s); Slack's requests are served meanwhile, asking again "
                        "in the background", text)
        self.last_failure = text
        if self.refused is not None:  # refused before: a passing failure says nothing new of the token
            return REFUSED_RECHECK_SECONDS
        return max(_backoff(attempt), error.retry_after or 0.0)

    def authorized(self, context: AsyncBoltContext, enterprise_id: str | None, team_id: str | None,
                   user_id: str | None) -> AuthorizeResult:
        """The token, and who the bot is as far as known. Never calls Slack, never fails: a request Bolt gets no
        result for is answered with its "reinstall this app"."""
        known = self.known
        if known is not None:
            return AuthorizeResult(enterprise_id=known.enterprise_id or enterprise_id, team_id=known.team_id or team_id,
                                   bot_user_id=known.user_id, bot_id=known.bot_id, bot_token=self._token,
                                   bot_scopes=known.scopes, user_id=user_id)
        named = context.get(EVENT_BOT_USER)
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=self._token,
                               bot_user_id=named if isinstance(named, str) else None, user_id=user_id)

    def bolt_hooks(self) -> tuple[Callable[..., Awaitable[AuthorizeResult]], Callable[..., Awaitable[BoltResponse]]]:
        """AsyncApp's `authorize` and `before_authorize`. Plain functions: Bolt passes an authorize function the
        arguments its parameters name, `self` included (a bound method would get it twice)."""
        async def authorize(context: AsyncBoltContext, enterprise_id: str | None, team_id: str | None,
                            user_id: str | None) -> AuthorizeResult:
            return self.authorized(context, enterprise_id, team_id, user_id)

        async def note_event_bot_user(req: AsyncBoltRequest, resp: BoltResponse,
                                      next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
            # While the identity is unknown: the bot user the event names (its `authorizations` entry for a bot).
            body = req.body if isinstance(req.body, dict) else {}
            if self.known is None:
                for installation in body.get("authorizations") or ():
                    if isinstance(installation, dict) and installation.get("is_bot") and installation.get("user_id"):
                        req.context[EVENT_BOT_USER] = str(installation["user_id"])
                        break
            return await next()
        return authorize, note_event_bot_user

    def state(self) -> dict[str, object]:
        """For /readyz: whether Slack accepts the token, and who the bot is."""
        if self.refused is not None:  # first: a token accepted before may have been revoked since
            return {"token": "refused", "error": self.refused, "seen_on": self.refused_on,
                    "fix": FIXES[self.refused]}
        if self.known is not None:
            return {"token": "accepted", "bot_user_id": self.known.user_id, "bot_id": self.known.bot_id}
        return {"token": "not yet checked" if self.last_failure is None else "checking",
                "last_failure": self.last_failure}


def _backoff(attempt: int) -> float:
    # The doubling stops once past the cap: Slack out of reach for hours is over a thousand attempts, and 2.0 ** 1024
    # is no float (OverflowError, which ended the learner and, awaited, Bot.stop).
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** min(attempt, 32)))
