"""Slack adapter: the Chat port over slack_sdk's AsyncWebClient.

Knows Slack's method names, tiers and error codes; translates every failure into IntegrationError. Calls wait for
a token from the method's bucket first (Slack's tiers), so a burst of incidents queues here rather than hitting 429s;
a 429 that still happens is reported with Slack's Retry-After for the dispatcher to honour.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.adapters.json_body import json_text
from bot.adapters.slack.failures import NOT_JSON, failure, plain_text_ok, unreachable
from bot.adapters.slack.fit import Fit
from bot.adapters.slack.identity import BotIdentity
from bot.adapters.slack.ratelimit import Buckets
from bot.adapters.slack.users import KnownUsers
from bot.domain.storable import storable
from bot.errors import IntegrationError
from bot.metrics import Metrics
from bot.ports import CHANNEL_GONE, CHANNEL_NOT_FOUND, ChannelInfo, ChatMessage, PostedMessage, RateBudget
from bot.ports.answers import answered
from bot.render.format import HOME_BLOCKS

# Requests per minute by Slack's published tiers (https://api.slack.com/apis/rate-limits).
TIERS: dict[str, float] = {
    **dict.fromkeys(["conversations.create", "conversations.setTopic", "pins.add"], 20),
    **dict.fromkeys(["conversations.invite", "chat.update", "users.lookupByEmail", "users.info",
                     "conversations.info", "conversations.history", "conversations.replies",
                     "conversations.members", "conversations.open"], 50),
    "conversations.archive": 20,
    **dict.fromkeys(["files.getUploadURLExternal", "files.completeUploadExternal", "chat.getPermalink"], 100),
    "conversations.list": 20,
    **dict.fromkeys(["views.open", "views.update", "views.publish", "chat.postEphemeral", "auth.test"], 100),
    "chat.postMessage": 60,  # about one per second per channel
}
# conversations.invite's answers for one person Slack will not add (https://api.slack.com/methods/conversations.invite).
NOT_ADDED = frozenset({"user_not_found", "cant_invite", "cant_invite_self", "user_is_bot", "user_is_restricted",
                       "user_is_ultra_restricted", "ura_max_channels"})
# A retry looks for its earlier post this many pages (of 200) into a channel's history or a thread: one longer than
# that since the effect was made is not read to its end (a busy incident's whole timeline is a few hundred lines).
HISTORY_PAGES = 5
# How long a channel name Slack did not find is taken as missing before it is looked for again.
MISSING_SECONDS = 60.0
# How long an app's direct messages are taken as closed to it after Slack refused to open one (missing_scope: installed
# before im:write; reinstalled, the token stays the same): every TellPerson retry would spend a refused call. The same
# for reading one (im:write granted, im:history not): its history is not asked for meanwhile.
NO_IM_SECONDS = 3600.0

class SlackChat:
    def __init__(self, token: str, base_url: str | None, metrics: Metrics, rate_scale: float = 1.0,
                 timeout: int = 10, budget: RateBudget | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        kwargs: dict[str, Any] = {"base_url": base_url} if base_url else {}
        # No SDK retry handlers: retries are the dispatcher's, with the outbox remembering what was done.
        self.client = AsyncWebClient(token=token, timeout=timeout, retry_handlers=[], **kwargs)
        self._timeout = timeout
        self._metrics = metrics
        self._buckets = Buckets(TIERS.get, rate_scale, shared=budget)  # budget: every replica's
        self._bot_user: str | None = None
        self._channel_ids: dict[str, str] = {}
        self._missing: dict[str, float] = {}  # names Slack did not find, when (time.monotonic)
        self._no_im_since: float | None = None  # when Slack last refused to open a DM for want of im:write
        self._no_im_history_since: float | None = None  # ... to read one for want of im:history
        self._fit = Fit()  # nothing is refused for its length: see fit.py
        # users.info answers kept a while: every App Home publish asks for the person's email (users.py).
        self._users = KnownUsers(self._user_info, clock=clock)
        self._closed = False
        # Told of every answer refusing the token itself (identity.py's `refused_by`): the code, and the method.
        self.on_refused: Callable[[str, str], None] | None = None

    async def _call(self, method: str, bucket_key: str | None = None, **kwargs: Any) -> AsyncSlackResponse:
        await self._buckets.acquire(bucket_key or method, method)
        if not self._closed and (self.client.session is None or self.client.session.closed):
            # One HTTP session for every call (made here, on the running loop): without one, the SDK opens a
            # session, and a TCP connection, per call and closes it after — about twenty per incident.
            self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout),
                                                        json_serialize=json_text)
        try:
            if method in _JSON_METHODS:
                response = await self.client.api_call(method, json=kwargs)
            elif method in _GET_METHODS:
                response = await self.client.api_call(method, http_verb="GET", params=_form(kwargs))
            else:
                response = await self.client.api_call(method, data=_form(kwargs))
        except SlackApiError as error:
            raise self._counted(method, failure(method, error, kwargs.get("channel"))) from None
        except AttributeError:  # slack_sdk's own check of a 200 text/plain answer (see failures.py)
            raise self._counted(method, plain_text_ok(method)) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            self._metrics.call("slack", method, "network_error").inc()
            raise unreachable(method, error) from None
        self._metrics.call("slack", method, "ok").inc()
        answered("slack", read=method in _READS)
        return response

    def _counted(self, method: str, error: IntegrationError) -> IntegrationError:
        self._metrics.call("slack", method, error.code or NOT_JSON).inc()
        return self.noticed(method, error)

    def noticed(self, method: str, error: IntegrationError) -> IntegrationError:
        """A failed call's error, the token's refusal told first to whoever watches for it."""
        if error.credentials_refused and error.code is not None and self.on_refused is not None:
            self.on_refused(error.code, method)
        return error

    async def close(self) -> None:
        """Close the HTTP session (its connections). A call still finishing during shutdown (an effect, a command's
        answer) then goes through a session of the SDK's own, closed after that call, so none is left open."""
        self._closed = True
        session, self.client.session = self.client.session, None
        if session is not None:
            await session.close()

    async def identity(self) -> BotIdentity:
        """Who the token says the bot is (auth.test); its bot user is kept for bot_user_id()."""
        response = await self._call("auth.test")
        scopes = next((str(v) for k, v in (response.headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
        identity = BotIdentity(team_id=_text(response.get("team_id")), user_id=str(response["user_id"]),
                               bot_id=_text(response.get("bot_id")),
                               enterprise_id=_text(response.get("enterprise_id")), scopes=scopes)
        self._bot_user = identity.user_id
        return identity

    async def bot_user_id(self) -> str:
        if self._bot_user is None:
            return (await self.identity()).user_id
        return self._bot_user

    async def create_channel(self, name: str) -> ChannelInfo:
        channel = (await self._call("conversations.create", name=name, is_private=False))["channel"]
        return _channel(channel)

    async def find_channel(self, name: str) -> ChannelInfo | None:
        found = await self._listed(lambda channel: channel["name"] == name, first=True)
        return found[0] if found else None

    async def channels_formerly_named(self, names: Collection[str]) -> list[ChannelInfo]:
        wanted = set(names)
        # Live channels only (an archived one is never reused): in a workspace of years, most channels are archived,
        # so this listing is a few pages where one with them would be many at Tier 2's pace.
        return await self._listed(lambda channel: not wanted.isdisjoint(_channel(channel).previous_names), live=True)

    async def _listed(self, match: Callable[[dict[str, Any]], bool], *, first: bool = False,
                      live: bool = False) -> list[ChannelInfo]:
        try:
            return await self._list_channels(match, "public_channel,private_channel", first, live)
        except IntegrationError as error:
            if error.code != "missing_scope":
                raise
            # Installed from a manifest before groups:read: public channels only (reinstalling the app adds it).
            return await self._list_channels(match, "public_channel", first, live)

    async def _list_channels(self, match: Callable[[dict[str, Any]], bool], types: str,
                             first: bool, live: bool) -> list[ChannelInfo]:
        found: list[ChannelInfo] = []
        cursor = None
        while True:
            # Private channels too (those the bot was invited to): a team may keep its channel private.
            args: dict[str, Any] = {"types": types, "limit": 1000} | ({"exclude_archived": "true"} if live else {})
            if cursor:
                args["cursor"] = cursor
            page = await self._call("conversations.list", **args)
            found += [_channel(channel) for channel in page["channels"] if match(channel)]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor or (first and found):
                return found

    async def channel(self, channel_id: str) -> ChannelInfo | None:
        try:
            return _channel((await self._call("conversations.info", channel=channel_id))["channel"])
        except IntegrationError as error:
            if error.code == CHANNEL_GONE:
                return None
            raise

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._call("conversations.setTopic", channel=channel, topic=self._fit.topic(topic))

    async def invite(self, channel: str, user_ids: Sequence[str]) -> dict[str, str]:
        # `force`: without it one person Slack will not add (deactivated since PagerDuty's email was looked up, a
        # guest) fails the whole call, and nobody — the on-call engineers included — is added.
        try:
            response = await self._call("conversations.invite", channel=channel, users=",".join(user_ids),
                                        force=True)
        except IntegrationError as error:
            if error.code == "already_in_channel":
                return {}
            if error.code in NOT_ADDED:
                # Nobody could be added; Slack's refusal names one reason (its per-person list is not kept), and
                # some may be in already: those not in the channel now are the ones it would not add.
                members = await self._members(channel)
                return {user: error.code for user in user_ids if user not in members}
            raise
        return {str(e["user"]): str(e.get("error") or "not added") for e in response.get("errors") or []
                if isinstance(e, dict) and e.get("user") and e.get("error") != "already_in_channel"}

    async def _members(self, channel: str) -> set[str]:
        members: set[str] = set()
        cursor = None
        while True:
            page = await self._call("conversations.members", channel=channel, limit=1000,
                                    **({"cursor": cursor} if cursor else {}))
            members.update(str(m) for m in page.get("members") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return members

    async def post_message(self, channel: str, text: str, blocks: Sequence[dict[str, Any]] | None = None,
                           thread_ts: str | None = None, metadata: dict[str, Any] | None = None) -> PostedMessage:
        args: dict[str, Any] = {"channel": channel, "text": self._fit.text(text)}
        if blocks is not None:
            args["blocks"] = self._fit.blocks(list(blocks))
        if thread_ts:
            args["thread_ts"] = thread_ts
        if metadata:
            args["metadata"] = metadata
        response = await self._call("chat.postMessage", f"chat.postMessage:{channel}", **args)
        return PostedMessage(channel=str(response["channel"]), ts=str(response["ts"]))

    async def update_message(self, channel: str, ts: str, text: str,
                             blocks: Sequence[dict[str, Any]] | None = None) -> None:
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": self._fit.text(text)}
        if blocks is not None:
            args["blocks"] = self._fit.blocks(list(blocks))
        await self._call("chat.update", **args)

    async def pin(self, channel: str, ts: str) -> None:
        await self._call("pins.add", channel=channel, timestamp=ts)

    async def find_posted(self, channel: str, marker: str, oldest: float,
                          thread_ts: str | None = None, key: str = "marker") -> PostedMessage | None:
        bot_user = await self.bot_user_id()
        channel_id: str | None = None
        try:
            channel_id = await self._channel_id(channel)
            if channel_id is None or (channel_id.startswith("D") and self._no_im_history_since is not None
                                      and time.monotonic() - self._no_im_history_since < NO_IM_SECONDS):
                return None  # a DM's history refused (the app's scope, not the person's): not asked at each retry
            # The channel's history lists a thread's parent only: a thread's replies are asked for on their own.
            method, args = ("conversations.history", {"channel": channel_id}) if thread_ts is None else (
                "conversations.replies", {"channel": channel_id, "ts": thread_ts})
            async for messages in self._pages(method, args, oldest):
                for message in messages:
                    payload = (message.get("metadata") or {}).get("event_payload") or {}
                    if payload.get(key) == marker and message.get("user") in (bot_user, None):
                        return PostedMessage(channel=channel_id, ts=str(message["ts"]))
        except IntegrationError as error:
            # chat:write.public lets the bot post where it is not a member, but not read there: it cannot look,
            # so it posts (a duplicate is possible only after a crash in the instant between post and record).
            # thread_not_found: the thread's parent (a card) was deleted, and the replies with it. missing_scope: an
            # app installed before groups:history (or im:write and im:history, for a direct message) was asked for
            # cannot read a private channel or its direct messages (reinstall it). user_not_found: no DM to read.
            if error.code == "missing_scope" and channel_id is not None and channel_id.startswith("D"):
                self._no_im_history_since = time.monotonic()
            if error.code in (*CHANNEL_NOT_FOUND, "thread_not_found", "missing_scope", "user_not_found"):
                return None
            raise
        return None

    async def _pages(self, method: str, args: dict[str, Any], oldest: float) -> AsyncIterator[list[dict[str, Any]]]:
        """The messages since `oldest`, page by page (newest first in a channel's history), at most HISTORY_PAGES: a
        busy channel's hour of retries is more than one page of 200, and the post looked for is the oldest of it."""
        cursor = None
        for _ in range(HISTORY_PAGES):
            page = await self._call(method, **args, oldest=f"{oldest:.6f}", limit=200, include_all_metadata=True,
                                    **({"cursor": cursor} if cursor else {}))
            yield list(page["messages"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    async def _channel_id(self, channel: str) -> str | None:
        name = channel.lstrip("#")
        if name[:1] in ("C", "G", "D") and name.upper() == name:
            return name
        if name[:1] in ("U", "W") and name.upper() == name:
            # A person's id: a post there went to the app's direct message with them, whose id Slack gives when it
            # is opened (conversations.open, im:write; already open, it is the same one).
            if name not in self._channel_ids:
                if self._no_im_since is not None and time.monotonic() - self._no_im_since < NO_IM_SECONDS:
                    return None  # not asked again for anyone's DM: the scope is the app's, not the person's
                try:
                    opened = await self._call("conversations.open", users=name)
                except IntegrationError as error:
                    if error.code == "missing_scope":
                        self._no_im_since = time.monotonic()
                    raise
                self._channel_ids[name] = str(opened["channel"]["id"])
            return self._channel_ids[name]
        if name not in self._channel_ids:
            # A name Slack did not find is not looked for again for a while: every look walks conversations.list
            # (Tier 2), and each of a flood of operators' alerts to a renamed operators' channel looked (review of
            # session 25). A channel made meanwhile is found once the while is over.
            missed = self._missing.get(name)
            if missed is not None and time.monotonic() - missed < MISSING_SECONDS:
                return None
            found = await self.find_channel(name)
            if found is None:
                self._missing[name] = time.monotonic()
                return None
            self._missing.pop(name, None)
            self._channel_ids[name] = found.id
        return self._channel_ids[name]

    async def _user_info(self, user_id: str) -> dict[str, Any]:
        return dict((await self._call("users.info", user=user_id))["user"])

    async def user_email(self, user_id: str) -> str | None:
        try:
            user = await self._users.user(user_id)
        except IntegrationError as error:
            if error.code == "user_not_found":
                return None
            raise
        email = (user.get("profile") or {}).get("email")
        return str(email) if email else None

    async def user_name(self, user_id: str) -> str | None:
        try:
            user = await self._users.user(user_id)
        except IntegrationError as error:
            if error.code in ("user_not_found", "invalid_arguments"):  # no such user; not a user id at all
                return None
            raise
        profile = user.get("profile") or {}
        name = profile.get("real_name") or user.get("real_name") or profile.get("display_name") or user.get("name")
        # Storable (bot/domain/storable.py): a name is kept with what it names (a key message's author, an owner).
        return storable(str(name)) if name else user_id

    async def message(self, channel: str, ts: str) -> ChatMessage | None:
        try:
            # A top-level message is the one history returns at exactly `ts`; a thread reply is only in replies.
            found = (await self._call("conversations.history", channel=channel, latest=ts, oldest=ts,
                                      inclusive=True, limit=1))["messages"]
            if not found or found[0].get("ts") != ts:
                # Two: Slack may put the thread's parent first whatever the range, and the reply after it.
                found = [m for m in (await self._call("conversations.replies", channel=channel, ts=ts, latest=ts,
                                                      oldest=ts, inclusive=True, limit=2))["messages"]
                         if m.get("ts") == ts]
        except IntegrationError as error:
            if error.code in (*CHANNEL_NOT_FOUND, "thread_not_found", "message_not_found"):
                return None
            raise
        if not found:
            return None
        data = found[0]
        by_person = bool(data.get("user")) and not data.get("bot_id") \
            and data.get("subtype") in (None, "thread_broadcast")
        # Its text is kept (a key message): made storable, as Slack may give back half an emoji or a NUL.
        return ChatMessage(channel=channel, ts=ts, user=data.get("user"), text=storable(str(data.get("text") or "")),
                           by_person=by_person)

    async def upload_file(self, channel: str, content: bytes, *, filename: str, title: str, comment: str,
                          alt_text: str | None = None) -> str:
        await self._buckets.acquire("files.completeUploadExternal", "files.completeUploadExternal")
        # alt_txt (Slack's spelling) describes an image for screen readers; files_upload_v2 leaves it out when None.
        try:
            response = await self.client.files_upload_v2(channel=channel, content=content, filename=filename,
                                                         title=title, initial_comment=self._fit.text(comment),
                                                         alt_txt=alt_text)
        except SlackApiError as error:
            raise self._counted("files.upload_v2", failure("files.upload_v2", error)) from None
        except AttributeError:  # slack_sdk's own check of a 200 text/plain answer (see failures.py)
            raise self._counted("files.upload_v2", plain_text_ok("files.upload_v2")) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            self._metrics.call("slack", "files.upload_v2", "network_error").inc()
            raise unreachable("files.upload_v2", error) from None
        self._metrics.call("slack", "files.upload_v2", "ok").inc()
        return str(response["files"][0]["id"])

    async def find_file(self, channel: str, name_prefix: str, oldest: float) -> PostedMessage | None:
        bot_user = await self.bot_user_id()
        try:
            # Page by page, as find_posted: a review drafted days before the channel's archiving is behind every
            # message since, and one not found on the newest 200 only was drafted, and shared, a second time.
            async for messages in self._pages("conversations.history", {"channel": channel}, oldest):
                for message in messages:  # the newest first
                    names = [str(f.get("name") or "") for f in message.get("files") or ()]
                    if any(n.startswith(name_prefix) for n in names) and message.get("user") in (bot_user, None):
                        return PostedMessage(channel=channel, ts=str(message["ts"]))
        except IntegrationError as error:
            if error.code in CHANNEL_NOT_FOUND:
                return None
            raise
        return None

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return str((await self._call("chat.getPermalink", channel=channel, message_ts=ts))["permalink"])
        except IntegrationError as error:
            if error.retryable:
                raise
            return None

    async def archive(self, channel: str) -> None:
        await self._call("conversations.archive", channel=channel)

    async def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._call("chat.postEphemeral", channel=channel, user=user, text=self._fit.text(text))

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        await self._call("views.publish", user_id=user_id,
                         view={**view, "blocks": self._fit.blocks(list(view.get("blocks") or []), HOME_BLOCKS)})

    async def user_id_by_email(self, email: str) -> str | None:
        try:
            return str((await self._call("users.lookupByEmail", email=email))["user"]["id"])
        except IntegrationError as error:
            if error.code == "users_not_found":
                return None
            raise


_JSON_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.update",
                           "views.publish"})
_GET_METHODS = frozenset({"users.lookupByEmail", "users.info", "conversations.info", "conversations.history",
                          "conversations.members",
                          "conversations.list", "conversations.replies", "chat.getPermalink"})
# Calls that only look or prepare (a DM opened to post in): answered, they are no evidence that Slack takes an effect's
# work (bot/ports/answers.py) — a line's history answering while its post fails is an outage of posts.
_READS = _GET_METHODS | {"auth.test", "conversations.open"}


def _form(args: dict[str, Any]) -> dict[str, Any]:
    """Form and query values are strings: booleans as Slack expects them."""
    return {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in args.items()}


def _channel(data: dict[str, Any]) -> ChannelInfo:
    topic, names = data.get("topic") or {}, data.get("previous_names")
    return ChannelInfo(id=str(data["id"]), name=str(data["name"]), topic=str(topic.get("value") or ""),
                       creator=data.get("creator"), is_archived=bool(data.get("is_archived")),
                       is_member=bool(data.get("is_member")),  # an earlier name that is no name: passed over
                       previous_names=tuple(n for n in names if isinstance(n, str) and n) if isinstance(names, list)
                       else ())


def _text(value: Any) -> str | None:
    return str(value) if value else None
