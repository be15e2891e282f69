"""The sandbox Slack's file uploads, driven by slack_sdk's own `files_upload_v2` (the three-step external upload)."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import channel_id, state


def client(running: RunningSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=running.sandbox.keys.slack_bot_token, base_url=f"{running.url}/sandbox/slack/api/")


async def test_a_file_uploaded_with_files_upload_v2_is_shared_in_the_channel(sandbox: RunningSandbox) -> None:
    team = channel_id(sandbox, "team-basket")
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    answer = await client(sandbox).files_upload_v2(channel=team, content=data, filename="report.png",
                                                   title="Incident report", initial_comment="The figures")
    assert answer["ok"] and answer["file"]["title"] == "Incident report"
    [message] = [m for m in state(sandbox)["slack"]["messages"] if m["channel"] == team]
    assert message["text"] == "The figures"
    assert [(f["name"], f["size"], f["mimetype"]) for f in message["files"]] == [("report.png", len(data),
                                                                                  "image/png")]
    stored = sandbox.sandbox.slack.files.files[answer["file"]["id"]]
    assert stored.content == data and stored.completed and stored.channels == [team]


async def test_upload_url_arguments_are_checked(sandbox: RunningSandbox) -> None:
    slack = client(sandbox)
    with pytest.raises(SlackApiError) as zero:
        await slack.files_getUploadURLExternal(filename="a.png", length=0)
    assert zero.value.response["error"] == "missing_argument"
    with pytest.raises(SlackApiError) as nameless:
        await slack.api_call("files.getUploadURLExternal", params={"length": 10})
    assert nameless.value.response["error"] == "invalid_arguments"


async def test_completing_a_file_never_uploaded_or_twice_is_file_not_found(sandbox: RunningSandbox) -> None:
    slack = client(sandbox)
    issued = await slack.files_getUploadURLExternal(filename="a.txt", length=3)
    with pytest.raises(SlackApiError) as early:
        await slack.files_completeUploadExternal(files=[{"id": issued["file_id"]}])
    assert early.value.response["error"] == "file_not_found"
    async with aiohttp.ClientSession() as session:
        async with session.post(issued["upload_url"], data=b"abcd") as wrong_size:
            assert wrong_size.status == 400
        async with session.post(issued["upload_url"], data=b"abc") as uploaded:
            assert uploaded.status == 200 and await uploaded.text() == "OK - 3"
    assert (await slack.files_completeUploadExternal(files=[{"id": issued["file_id"], "title": "A"}]))["ok"]
    with pytest.raises(SlackApiError) as twice:
        await slack.files_completeUploadExternal(files=[{"id": issued["file_id"]}])
    assert twice.value.response["error"] == "file_not_found"


async def test_sharing_needs_a_channel_the_bot_is_in(sandbox: RunningSandbox) -> None:
    slack = client(sandbox)
    emulator = sandbox.sandbox.slack
    outside = emulator.create_channel_as("asha.patel@example.com", "no-bot-here")
    for channel, error in ((outside.id, "not_in_channel"), ("C0NOSUCH00", "channel_not_found")):
        with pytest.raises(SlackApiError) as refused:
            await slack.files_upload_v2(channel=channel, content=b"x", filename="x.txt")
        assert refused.value.response["error"] == error
