"""The sandbox Slack's direct messages between the app and a person: `conversations.open` gives the DM's id (the one a
post to the person's user id lands in) and needs `im:write`; reading that DM's history needs `im:history`. Without
them Slack answers `missing_scope`, naming the scope, as it does an app installed from an earlier manifest."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.slack.workspace import BOT_SCOPES
from sandbox.world import RunningSandbox

BEN = "ben.okafor@example.com"


def client(running: RunningSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=running.sandbox.keys.slack_bot_token, base_url=f"{running.url}/sandbox/slack/api/",
                          retry_handlers=[])


async def test_the_dm_a_post_to_a_person_went_to_is_opened_and_read_with_the_im_scopes(
        sandbox: RunningSandbox) -> None:
    slack = client(sandbox)
    ben = sandbox.sandbox.slack.resolve_user(BEN)
    assert ben is not None
    posted = await slack.chat_postMessage(channel=ben.id, text="told", metadata={
        "event_type": "pavedroad_posted", "event_payload": {"marker": "tell:1"}})
    opened = await slack.conversations_open(users=ben.id)
    assert opened["channel"]["id"] == posted["channel"] and opened["already_open"] is True
    history = await slack.conversations_history(channel=opened["channel"]["id"], include_all_metadata=True)
    assert [m["metadata"]["event_payload"]["marker"] for m in history["messages"]] == ["tell:1"]
    with pytest.raises(SlackApiError) as no_users:
        await slack.api_call("conversations.open", data={})  # slack_sdk's own method refuses to send this
    assert no_users.value.response["error"] == "users_list_not_supplied"
    with pytest.raises(SlackApiError) as nobody:
        await slack.conversations_open(users="U0NOBODY")
    assert nobody.value.response["error"] == "user_not_found"


@pytest.mark.parametrize(("without", "method"), [("im:write", "conversations.open"),
                                                 ("im:history", "conversations.history")])
async def test_an_app_without_the_im_scopes_is_refused_missing_scope(sandbox: RunningSandbox, without: str,
                                                                     method: str) -> None:
    slack = client(sandbox)
    ben = sandbox.sandbox.slack.resolve_user(BEN)
    assert ben is not None
    dm = (await slack.conversations_open(users=ben.id))["channel"]["id"]
    sandbox.sandbox.slack.bot_scopes = BOT_SCOPES - {without}
    with pytest.raises(SlackApiError) as refused:
        if method == "conversations.open":
            await slack.conversations_open(users=ben.id)
        else:
            await slack.conversations_history(channel=dm)
    assert refused.value.response["error"] == "missing_scope"
    assert refused.value.response["needed"] == without
