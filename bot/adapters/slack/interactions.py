"""Slack adapter: the Interactions port, answering the person who typed `/incident` or clicked a card's button.

Opens forms (views.open), posts private and threaded messages, uploads a report's chart (slack_sdk's
files_upload_v2: files.getUploadURLExternal, the upload, files.completeUploadExternal) and answers through an
interaction's response_url. Every failure becomes an IntegrationError carrying Slack's error code, as in chat.py.
Built on the AsyncWebClient Bolt was given, so commands and the card share one client and one token; private and
threaded messages and files go through SlackChat (chat.py), the one path for chat.postEphemeral, chat.postMessage
and the file upload, paced by Slack's tiers in the budget every replica shares.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.adapters.slack.chat import SlackChat
from bot.adapters.slack.failures import failure, plain_text_ok, unreachable
from bot.adapters.slack.fit import Fit
from bot.errors import IntegrationError

RESPONSE_URL_TIMEOUT_SECONDS = 10


class SlackInteractions:
    def __init__(self, client: AsyncWebClient, chat: SlackChat) -> None:
        self._client = client
        # Calls the card's side makes too go its way: paced by Slack's tiers in the budget every replica shares,
        # counted in the metrics, their failures read in one place.
        self._chat = chat
        # Answers share one HTTP session: a new one per answer would open a new connection for every answer.
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._fit = Fit()  # nothing is refused for its length: see fit.py

    async def open_modal(self, trigger_id: str, view: dict[str, Any]) -> None:
        # Not paced: the trigger_id is good for 3 s, so waiting for a token would only turn a 429 into an expired
        # trigger; views.open's tier (100 a minute) is far above what people type.
        await self._call("views.open", trigger_id=trigger_id, view=self._fit.view(view))

    async def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._chat.post_ephemeral(channel, user, text)

    async def post_message(self, channel: str, text: str, thread_ts: str | None = None) -> None:
        await self._chat.post_message(channel, text, thread_ts=thread_ts)

    async def upload_file(self, channel: str, content: bytes, *, filename: str, title: str, comment: str,
                          alt_text: str) -> None:
        await self._chat.upload_file(channel, content, filename=filename, title=title, comment=comment,
                                     alt_text=alt_text)

    async def respond(self, response_url: str, text: str) -> None:
        if self._closed:  # an answer still being worked on as the bot stops: no new session that nobody closes
            raise IntegrationError("slack", "response_url: the bot is stopping; the answer was not sent",
                                   retryable=False)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=RESPONSE_URL_TIMEOUT_SECONDS))
        webhook = AsyncWebhookClient(response_url, session=self._session)
        try:
            response = await webhook.send(text=self._fit.text(text), response_type="ephemeral",
                                          replace_original=False)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise unreachable("response_url", error) from None
        if response.status_code >= 400:  # an expired or used-up response_url
            raise IntegrationError("slack", f"response_url answered {response.status_code}: {response.body}",
                                   retryable=False, status=response.status_code)

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, **kwargs: Any) -> None:
        try:
            await self._client.api_call(method, json=kwargs)
        except SlackApiError as error:
            raise self._chat.noticed(method, failure(method, error)) from None  # a refused token is said at once
        except AttributeError:  # slack_sdk's own check of a 200 text/plain answer (see failures.py)
            raise plain_text_ok(method) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise unreachable(method, error) from None
