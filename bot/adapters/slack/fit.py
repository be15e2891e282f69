"""The last guard before Slack: a message's text, its blocks and a modal fitted to Slack's length limits, so that
nothing the bot sends is refused for its length (`msg_too_long`, `invalid_blocks`, `too_long`) and no effect dies of
it. The render clips where it chooses the words (bot/render/format.py); this catches whatever still overflows,
clips it with an ellipsis, and logs each kind of overflow once, as a bug to fix in the render.

Limits are Slack's published ones for Block Kit (https://docs.slack.dev/reference/block-kit/blocks) and for
chat.postMessage's text; markup (`mrkdwn`) is clipped without cutting a link or an entity in two.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.render.format import (
    BUTTON_TEXT,
    CONTEXT_TEXT,
    FIELD_TEXT,
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    MESSAGE_TEXT,
    SECTION_TEXT,
    TOPIC_TEXT,
    clip,
    clip_mrkdwn,
)

log = logging.getLogger(__name__)

MODAL_BLOCKS = 100
MODAL_TITLE = 24  # a modal's title, submit and close labels
BLOCK_ID = 255
BUTTON_VALUE = 2_000
INPUT_LABEL = 2_000
FIELDS = 10
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
CONFIRM = {"title": 100, "text": 300, "confirm": 30, "deny": 30}

Block = dict[str, Any]


class Fit:
    """Fits what goes to Slack; remembers which overflows it has logged, so each is logged once per process."""

    def __init__(self) -> None:
        self._logged: set[str] = set()

    def text(self, text: str, limit: int = MESSAGE_TEXT, what: str = "message text") -> str:
        """A message's text (mrkdwn) within `limit`."""
        return self._clip(text, limit, what, markup=True)

    def topic(self, topic: str) -> str:
        return self._clip(topic, TOPIC_TEXT, "channel topic", markup=False)

    def blocks(self, blocks: list[Block], most: int = MESSAGE_BLOCKS) -> list[Block]:
        """Blocks within Slack's limits: at most `most` of them, each text, field, element and id within its own."""
        if len(blocks) > most:
            self._overflow("number of blocks", most, len(blocks))
        return [self._block(block) for block in blocks[:most]]

    def view(self, view: dict[str, Any]) -> dict[str, Any]:
        """A modal within Slack's limits: its title and buttons' labels, and its blocks."""
        fitted = dict(view)
        for key in ("title", "submit", "close"):
            if isinstance(view.get(key), dict):
                fitted[key] = self._text_object(view[key], MODAL_TITLE, f"modal {key}")
        if isinstance(view.get("blocks"), list):
            fitted["blocks"] = self.blocks(view["blocks"], MODAL_BLOCKS)
        return fitted

    # -- one block at a time ---------------------------------------------------------------------------------

    def _block(self, block: Block) -> Block:
        if not isinstance(block, dict):
            return block
        fitted = dict(block)
        if isinstance(block.get("block_id"), str):
            fitted["block_id"] = self._clip(block["block_id"], BLOCK_ID, "block_id", markup=False)
        kind = block.get("type")
        if kind == "header":
            fitted["text"] = self._text_object(block.get("text"), HEADER_TEXT, "header text")
        elif kind == "section":
            if "text" in block:
                fitted["text"] = self._text_object(block["text"], SECTION_TEXT, "section text")
            if isinstance(block.get("fields"), list):
                fitted["fields"] = [self._text_object(f, FIELD_TEXT, "section field")
                                    for f in self._most(block["fields"], FIELDS, "section fields")]
            if "accessory" in block:
                fitted["accessory"] = self._element(block["accessory"])
        elif kind == "context" and isinstance(block.get("elements"), list):
            fitted["elements"] = [self._text_object(e, CONTEXT_TEXT, "context text")
                                  if isinstance(e, dict) and e.get("type") in ("mrkdwn", "plain_text") else e
                                  for e in self._most(block["elements"], CONTEXT_ELEMENTS, "context elements")]
        elif kind == "actions" and isinstance(block.get("elements"), list):
            fitted["elements"] = [self._element(e)
                                  for e in self._most(block["elements"], ACTIONS_ELEMENTS, "action elements")]
        elif kind == "input":
            for key in ("label", "hint"):
                if key in block:
                    fitted[key] = self._text_object(block[key], INPUT_LABEL, f"input {key}")
            if "element" in block:
                fitted["element"] = self._element(block["element"])
        return fitted

    def _element(self, element: Any) -> Any:
        if not isinstance(element, dict) or element.get("type") != "button":
            return element
        fitted = dict(element)
        fitted["text"] = self._text_object(element.get("text"), BUTTON_TEXT, "button text")
        if isinstance(element.get("value"), str):
            fitted["value"] = self._clip(element["value"], BUTTON_VALUE, "button value", markup=False)
        if isinstance(element.get("confirm"), dict):
            confirm = dict(element["confirm"])
            for key, limit in CONFIRM.items():
                if key in confirm:
                    confirm[key] = self._text_object(confirm[key], limit, f"confirm {key}")
            fitted["confirm"] = confirm
        return fitted

    def _text_object(self, obj: Any, limit: int, what: str) -> Any:
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) or len(obj["text"]) <= limit:
            return obj
        return {**obj, "text": self._clip(obj["text"], limit, what, markup=obj.get("type") == "mrkdwn")}

    def _most(self, items: list[Any], most: int, what: str) -> list[Any]:
        if len(items) > most:
            self._overflow(what, most, len(items))
        return items[:most]

    def _clip(self, text: str, limit: int, what: str, *, markup: bool) -> str:
        if len(text) <= limit:
            return text
        self._overflow(what, limit, len(text))
        return clip_mrkdwn(text, limit) if markup else clip(text, limit)

    def _overflow(self, what: str, limit: int, size: int) -> None:
        if what not in self._logged:
            self._logged.add(what)
            log.warning("a Slack %s was over its limit (%d, limit %d) and was clipped before sending; the render "
                        "should have shortened it (logged once)", what, size, limit)
