"""Alerts that repeat go in one thread: when many incidents' effects die of the same cause (a ServiceNow ACL refusing
the bot's integration user, a Slack refusal not yet named), the operators' channel gets one alert in the channel and
the others, each still naming its incident, in that alert's thread for the next hour — not a screenful at 3 a.m.
Nothing is lost: every dead effect is still in /readyz and on its incident's `/incident status`."""

from __future__ import annotations

from typing import Any

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import channel_id, messages, move_clock
from tests.e2e.servicenow_helpers import settle_all

FOREVER = 10 * 86400


def ops(running: RunningSandbox) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The operators' channel's alerts: those in the channel, and the replies in their threads."""
    posted = messages(running, channel_id(running, "paved-road-ops"))
    top = [m for m in posted if not m["thread_ts"] or m["thread_ts"] == m["ts"]]
    return top, [m for m in posted if m["thread_ts"] and m["thread_ts"] != m["ts"]]


async def refused_tickets(running: RunningSandbox, count: int) -> list[str]:
    ids = []
    for n in range(count):
        incident = await running.sandbox.pagerduty.trigger(title=f"Basket totals wrong {n}", service_id="PBASKET")
        ids.append(str(incident["id"]))
        await settle_all(running)
    return ids


async def test_tickets_refused_by_an_acl_make_one_alert_and_a_thread(sandbox: RunningSandbox) -> None:
    # ServiceNow's ACL refuses the integration user the incident table: every ticket's opening dies at once.
    sandbox.sandbox.faults.add(Fault("servicenow", "POST /api/now/table/incident", status=403,
                                     until=sandbox.sandbox.clock.timestamp() + FOREVER))
    ids = await refused_tickets(sandbox, 4)
    top, replies = ops(sandbox)
    # Each incident's ticket dies twice (its opening, then its first sync, which opens it too): one cause.
    [first] = [m for m in top if "HTTP 403" in m["text"]]
    assert ids[0] in first["text"]
    assert "in this thread" in first["text"]  # the operators know where the next ones go
    assert "`itil` role" in first["text"] and "channel" not in first["text"]  # advice for this cause, not Slack's
    in_thread = [m for m in replies if m["thread_ts"] == first["ts"]]
    assert len(in_thread) == 7 and all("HTTP 403" in m["text"] for m in in_thread)
    # Each alert is still there, naming its incident: nothing lost, nothing doubled.
    named = [i for m in [first, *in_thread] for i in ids if i in m["text"]]
    assert sorted(named) == sorted(ids * 2)
    dead = await sandbox.bot.store.dead_effects()
    assert sorted(d["incident_id"] for d in dead if d["kind"] == "open_ticket") == sorted(ids)


async def test_another_cause_has_its_own_alert_and_an_hour_later_a_new_one(sandbox: RunningSandbox) -> None:
    sandbox.sandbox.faults.add(Fault("servicenow", "POST /api/now/table/incident", status=403,
                                     until=sandbox.sandbox.clock.timestamp() + FOREVER))
    await refused_tickets(sandbox, 2)
    # A different cause: Slack refuses the channel with an error the bot does not name.
    sandbox.sandbox.faults.add(Fault("slack", "conversations.create", status=200, error="team_quota_exceeded",
                                     until=sandbox.sandbox.clock.timestamp() + FOREVER))
    await refused_tickets(sandbox, 2)
    top, _ = ops(sandbox)
    assert len([m for m in top if "HTTP 403" in m["text"]]) == 1
    assert len([m for m in top if "team_quota_exceeded" in m["text"]]) == 1
    # An hour on, the same cause starts a new alert in the channel (a thread does not hide a new day's trouble).
    await move_clock(sandbox, advance_seconds=3601)
    later = await refused_tickets(sandbox, 1)
    top, _ = ops(sandbox)
    assert len([m for m in top if "HTTP 403" in m["text"]]) == 2
    assert later[0] in [m for m in top if "HTTP 403" in m["text"]][-1]["text"]


async def test_an_alert_whose_answer_was_lost_is_not_posted_twice(sandbox: RunningSandbox) -> None:
    sandbox.sandbox.faults.add(Fault("servicenow", "POST /api/now/table/incident", status=403,
                                     until=sandbox.sandbox.clock.timestamp() + FOREVER))
    # Slack posts the first alert and the first reply, and each answer is lost (a gateway's 502): the retries look.
    sandbox.sandbox.faults.add(Fault("slack", "chat.postMessage", status=502, after=True, times=2,
                                     with_field="metadata", with_text="alert:dead:"))
    ids = await refused_tickets(sandbox, 2)
    top, replies = ops(sandbox)
    [first] = [m for m in top if "HTTP 403" in m["text"]]
    in_thread = [m for m in replies if m["thread_ts"] == first["ts"]]
    assert len(in_thread) == 3  # the first incident's second alert, and the second incident's two
    named = [i for m in [first, *in_thread] for i in ids if i in m["text"]]
    assert sorted(named) == sorted(ids * 2)
