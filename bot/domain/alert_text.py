"""Outside text as the operators' alerts show it: an incident id, a ticket number, a service's error — shown
literally, never as Slack markup (no mention, link or `<!channel>` in it reaches Slack as one)."""

from __future__ import annotations

# How much of a service's error text an alert shows: enough to know it again in the logs, which have all of it.
ERROR_SHOWN = 300


def plain(text: str) -> str:
    """Text shown as it is in Slack's markup: &, < and > escaped, so nothing in it can mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shown_error(error: str) -> str:
    """An outside service's error text as an operators' alert shows it: literally, whatever it holds — &, < and >
    escaped (no mention, link or `<!channel>` in it reaches Slack as markup) and in inline code (no * or _ in it
    formats), on one line (a line break would end the code) and clipped. It is the service's words, not ours."""
    return "`" + plain(" ".join(error.split())[:ERROR_SHOWN]).replace("`", "'") + "`"
