"""POST /servicenow/webhook: what the business rule sends is stored and answered 202; a request that cannot be
verified is 401, a body that is not the rule's is 400, and neither is stored; nothing the client got wrong is 5xx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.servicenow.webhook import ServiceNowWebhook
from bot.app.runtime import Bot
from bot.catalogue import Catalogue
from bot.errors import DeliveryError
from tests.helpers import rows, servicenow_signature
from tests.web.door_helpers import SERVICENOW_SECRET, business_rule, post_servicenow, raw_post, servicenow_bot


def inbox(bot: Bot) -> list[dict[str, Any]]:
    return rows(bot.settings.db_path, "SELECT * FROM inbox ORDER BY seq")


async def test_the_business_rules_delivery_is_stored_before_202(tmp_path: Path, catalogue: Catalogue) -> None:
    async with servicenow_bot(tmp_path, catalogue) as (bot, client):
        answer = await post_servicenow(client, json.dumps(business_rule()).encode(),
                                       headers={"X-ServiceNow-Delivery": "D1"})
        assert (answer.status, json.loads(answer.text)) == (202, {"status": "accepted", "delivery": "D1"})
        [row] = inbox(bot)
        assert (row["source"], row["event_type"], row["incident_id"]) == ("servicenow", "ticket.update", "Q1")
        assert json.loads(row["body"]) == business_rule()


async def test_an_update_the_bot_made_itself_is_answered_200_and_not_stored(tmp_path: Path,
                                                                           catalogue: Catalogue) -> None:
    """A business rule without the integration_user property sends the bot's own updates back: each would cost two
    durable writes to decide that nothing happened, so the door answers it and stores nothing."""
    async with servicenow_bot(tmp_path, catalogue) as (bot, client):
        ours = json.dumps(business_rule(updated_by="PavedRoad.Integration", work_notes="[pavedroad] ack")).encode()
        answer = await post_servicenow(client, ours, headers={"X-ServiceNow-Delivery": "D1"})
        assert answer.status == 200
        assert json.loads(answer.text) == {"status": "ignored", "delivery": "D1",
                                           "reason": "an update the bot made itself (its integration user's)"}
        assert inbox(bot) == []
        # Unsigned, it is still refused: the echo check comes after the signature's.
        assert (await raw_post(client, "/servicenow/webhook", ours, [])).status == 401
        # A person's update of the same ticket is stored.
        theirs = json.dumps(business_rule(updated_by="jane.agent", work_notes="customer called")).encode()
        assert (await post_servicenow(client, theirs, headers={"X-ServiceNow-Delivery": "D2"})).status == 202
        assert [row["event_id"] for row in inbox(bot)] == ["D2"]


async def test_a_non_utf8_byte_in_x_servicenow_signature_gets_401(tmp_path: Path, catalogue: Catalogue) -> None:
    async with servicenow_bot(tmp_path, catalogue) as (bot, client):
        body = json.dumps(business_rule()).encode()
        for signature in (b"\xff", servicenow_signature(SERVICENOW_SECRET, body).encode() + b"\xff"):
            answer = await raw_post(client, "/servicenow/webhook", body, [(b"X-ServiceNow-Signature", signature)])
            assert answer.status == 401 and answer.error.startswith("X-ServiceNow-Signature does not match")
        assert inbox(bot) == []


@pytest.mark.parametrize(("body", "reason"), [
    (json.dumps(business_rule()).encode("utf-16"), "body is not UTF-8"),
    (json.dumps(business_rule(work_notes="\U0001f525"), ensure_ascii=False).replace(
        "\U0001f525", "\ud83d\udd25").encode("utf-8", "surrogatepass"), "body is not UTF-8 (byte "),
    (b"[" * 5000 + b"]" * 5000, "body is nested more than 64 levels deep"),
    (b"table=incident&sys_id=1", "body is not JSON"),
    (b"[1, 2]", "body is not a JSON object"),
    (json.dumps(business_rule(table="problem")).encode(), "table 'problem' is not handled"),
    (json.dumps(business_rule(sys_id=5)).encode(), "sys_id is 5, not a string"),
    (json.dumps({"table": "incident"}).encode(), "missing field(s) operation, sys_id, number, updated_by"),
], ids=["UTF-16", "CESU-8", "5000 levels deep", "garbage", "an array", "another table", "sys_id a number",
        "fields missing"])
async def test_a_body_that_is_not_the_rules_gets_400_and_is_not_stored(tmp_path: Path, catalogue: Catalogue,
                                                                      body: bytes, reason: str) -> None:
    async with servicenow_bot(tmp_path, catalogue) as (bot, client):
        answer = await post_servicenow(client, body)
        assert answer.status == 400 and answer.error.startswith(reason)
        assert inbox(bot) == []


async def test_a_body_with_a_byte_order_mark_is_stored_202(tmp_path: Path, catalogue: Catalogue) -> None:
    async with servicenow_bot(tmp_path, catalogue) as (bot, client):
        answer = await post_servicenow(client, b"\xef\xbb\xbf" + json.dumps(business_rule()).encode())
        assert answer.status == 202
        [row] = inbox(bot)
        assert row["body"].startswith("{")
        ServiceNowWebhook(SERVICENOW_SECRET).read_event(row["body"], row["event_id"])  # reads


async def test_a_work_note_with_half_an_emoji_is_stored_with_the_replacement_character(
        tmp_path: Path, catalogue: Catalogue) -> None:
    async with servicenow_bot(tmp_path, catalogue) as (bot, client):
        body = json.dumps(business_rule(work_notes="rolled back \ud83d")).encode()
        assert (await post_servicenow(client, body)).status == 202
        [row] = inbox(bot)
        event = ServiceNowWebhook(SERVICENOW_SECRET).read_event(row["body"], row["event_id"])
        assert event.work_note == "rolled back \ufffd"


async def test_content_that_does_not_read_is_stored_202_and_its_read_raises_a_delivery_error(
        tmp_path: Path, catalogue: Catalogue) -> None:
    async with servicenow_bot(tmp_path, catalogue) as (bot, client):
        body = json.dumps(business_rule(work_notes={"text": "x"}, correlation_id=["Q1"])).encode()
        assert (await post_servicenow(client, body)).status == 202
        [row] = inbox(bot)
        assert row["incident_id"] is None  # only a string orders the inbox
        with pytest.raises(DeliveryError, match=r"^correlation_id is a list, not a string$"):
            ServiceNowWebhook(SERVICENOW_SECRET).read_event(row["body"], row["event_id"])


async def test_an_oversized_body_gets_413(tmp_path: Path, catalogue: Catalogue) -> None:
    async with servicenow_bot(tmp_path, catalogue) as (bot, client):
        answer = await post_servicenow(client, json.dumps(business_rule(work_notes="x" * 300_000)).encode())
        assert answer.status == 413 and "262144" in answer.error
        assert inbox(bot) == []
