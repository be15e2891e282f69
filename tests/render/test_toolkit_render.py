"""The incident manager's toolkit as Slack shows it: the card's roles and last update (with its age) and its Take
command button, `/incident status`'s line, the handover's last update, and what outside text cannot do there."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.coordination import RoleHolder, StatusUpdate
from bot.domain.handover import handover_report
from bot.render.card import card_blocks
from bot.render.handover import handover_text
from bot.render.replies import status_text
from bot.render.status_updates import roles_text, stakeholder_message
from tests.domain.handover_shift import END, LONDON, START, incident, on_call

OPEN = incident(1, "2026-11-27T16:00")
UPDATE = StatusUpdate("update:1", END - timedelta(minutes=12), "Erin Walsh", "Rolling back <!channel>",
                      "1 in 5 payments fail", END + timedelta(minutes=18))


def roles_block(blocks: list[dict[str, object]]) -> str:
    found = next(b for b in blocks if b.get("block_id") == "incident_roles")
    text = found["text"]
    assert isinstance(text, dict)
    return str(text["text"])


def test_the_card_offers_take_command_while_nobody_leads() -> None:
    blocks = card_blocks(OPEN, END)
    assert "*Commander:* nobody yet" in roles_block(blocks)
    assert "*Last update:* none yet" in roles_block(blocks)
    assert next(b for b in blocks if b.get("block_id") == "incident_roles")["accessory"]["action_id"] == \
        "incident_take_command"


def test_the_card_shows_the_holders_and_the_last_update_with_its_age() -> None:
    led = replace(OPEN, roles=(RoleHolder("commander", "UERIN", "Erin Walsh"),
                               RoleHolder("communications", "UBEN", "Ben Okafor")), status_updates=(UPDATE,))
    blocks = card_blocks(led, END)
    text = roles_block(blocks)
    assert "*Commander:* <@UERIN> · *Communications:* <@UBEN>" in text
    assert "*Last update:* 12m ago by Erin Walsh — “Rolling back &lt;!channel&gt;”" in text
    assert "accessory" not in next(b for b in blocks if b.get("block_id") == "incident_roles")


def test_status_and_the_handover_include_the_last_update() -> None:
    updated = replace(OPEN, status_updates=(UPDATE,))
    assert "Last update 12m ago by Erin Walsh: “Rolling back &lt;!channel&gt; Impact: 1 in 5 payments fail" in \
        status_text(updated, [], [], END)
    text = handover_text(handover_report("Basket", START, END, on_call("Alice"), on_call("Bob"), [updated], [], [],
                                         None, LONDON))
    assert "last update 12m ago by Erin Walsh: “Rolling back &lt;!channel&gt;”" in text


def test_roles_list_and_the_stakeholders_post() -> None:
    listed = roles_text(replace(OPEN, roles=(RoleHolder("commander", "UERIN", "Erin Walsh"),)),
                        ["commander", "communications", "scribe"])
    assert "• Commander (`commander`): <@UERIN>" in listed and "• Scribe (`scribe`): nobody yet" in listed
    text, blocks = stakeholder_message(OPEN, UPDATE, "C123")
    assert "<!channel>" not in text + str(blocks)
    assert "follow it in <#C123>" in str(blocks) and "*Impact:* 1 in 5 payments fail" in str(blocks)
