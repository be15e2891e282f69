"""The sandbox page's side panels, as HTML: PagerDuty (incidents, a trigger form, per incident only the actions valid
in its state, responder requests, links to its Slack channel and ServiceNow ticket), ServiceNow (tickets with work
notes and comments), the clock (set, advance) and faults (add, list, clear).

Reads the emulators; changes nothing. Each form names the control route it goes to (`data-route`), which the page's
script sends as JSON: the same routes the README documents for curl.
"""

from __future__ import annotations

import html
from typing import Any

from sandbox.faults import SERVICES
from sandbox.pagerduty.control import valid_actions
from sandbox.pagerduty.model import PRIORITY_NAMES, Incident
from sandbox.ui.world import World

e = html.escape
SHOWN_INCIDENTS = 25  # the newest; `--history` puts thousands in the account


def _field(label: str, control: str) -> str:
    return f"<label>{e(label)} {control}</label>"


def _select(name: str, options: list[tuple[str, str]], chosen: str = "") -> str:
    rendered = "".join(f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(t)}</option>'
                       for v, t in options)
    return f'<select name="{e(name)}">{rendered}</select>'


def pagerduty_panel(sandbox: World, slack_channel_for: dict[str, str]) -> str:
    account = sandbox.pagerduty.account
    services = [(s.id, s.name) for s in account.services.values()]
    trigger = (f'<form class="panel-form" data-route="/sandbox/pagerduty/incidents" aria-label="Trigger an incident">'
               f'{_field("Title", "<input name=title required>")}'
               f'{_field("Service", _select("service_id", services))}'
               f'{_field("Urgency", _select("urgency", [("high", "high"), ("low", "low")]))}'
               f'<button type="submit">Trigger</button></form>')
    newest = sorted(account.incidents.values(), key=lambda i: -i.number)[:SHOWN_INCIDENTS]
    tickets = {t["correlation_id"]: t for t in _tickets(sandbox) if t.get("correlation_id")}
    rows = "".join(_incident(sandbox, i, slack_channel_for.get(i.id), tickets.get(i.id)) for i in newest)
    return (f'<section class="panel" aria-labelledby="pd-title"><h2 id="pd-title">PagerDuty</h2>{trigger}'
            f'<ul class="incidents">{rows}</ul></section>')


def _incident(sandbox: World, incident: Incident, channel_id: str | None, ticket: dict[str, Any] | None) -> str:
    account = sandbox.pagerduty.account
    base = f"/sandbox/pagerduty/incidents/{e(incident.id)}"
    assignees = ", ".join(account.users[u].name for u in incident.assignee_ids if u in account.users) or "nobody"
    links = [f'<a href="{base}" target="_blank">in PagerDuty</a>']
    if channel_id:
        name = sandbox.slack.channels[channel_id].name
        links.append(f'<a href="?channel={e(channel_id)}" data-channel="{e(channel_id)}">#{e(name)}</a>')
    if ticket:
        links.append(f'<a href="#ticket-{e(ticket["sys_id"])}">{e(ticket["number"])}</a>')
    users = [(u.email, u.name) for u in account.users.values()]
    forms = []
    for action in valid_actions(incident.status):
        extra = ""
        if action == "reassign":
            extra = _field("To", _select("to", users))
        elif action == "delegate":
            extra = _field("Escalation policy", _select("escalation_policy_id",
                                                        [(p.id, p.name) for p in account.policies.values()]))
        elif action == "priority":
            extra = _field("Priority", _select("priority", [("", "none"), *((p, p) for p in PRIORITY_NAMES)],
                                                   incident.priority or ""))
        elif action == "note":
            extra = _field("Note", "<input name=content required>")
        label = "Add note" if action == "note" else "Set priority" if action == "priority" else action.capitalize()
        forms.append(f'<form class="panel-form inline" data-route="{base}/{action}" '
                     f'aria-label="{e(label)} #{incident.number}">{extra}<button type="submit">{e(label)}</button>'
                     f"</form>")
    responders = "".join(
        f"<li>{e(account.users[r.requester_id].name if r.requester_id in account.users else r.requester_id)} asked "
        f"{e(', '.join(account.users[x.user_id].name for x in r.responders if x.user_id in account.users))}"
        f"{': ' + e(r.message) if r.message else ''}</li>"
        for r in account.responder_requests if r.incident_id == incident.id)
    notes = "".join(f"<li>{e(account.users[n.user_id].name if n.user_id in account.users else '')}: "
                    f"{e(n.content)}</li>" for n in account.notes if n.incident_id == incident.id)
    return (f'<li class="incident status-{e(incident.status)}" aria-label="Incident #{incident.number}">'
            f"<strong>#{incident.number} {e(incident.title)}</strong>"
            f'<p><span class="status">{e(incident.status)}</span> · {e(incident.urgency)} urgency · '
            f"priority {e(incident.priority or 'none')} · {e(account.services[incident.service_id].name)} · "
            f"assigned to {e(assignees)}</p><p class=links>{' · '.join(links)}</p>"
            f'<div class="actions">{"".join(forms)}</div>'
            + (f"<h4>Responder requests</h4><ul>{responders}</ul>" if responders else "")
            + (f"<h4>Notes</h4><ul>{notes}</ul>" if notes else "") + "</li>")


def _tickets(sandbox: World) -> list[dict[str, Any]]:
    tickets = sandbox.servicenow.snapshot()["incidents"]
    assert isinstance(tickets, list)
    return tickets


def servicenow_panel(sandbox: World) -> str:
    tickets = _tickets(sandbox)
    states = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"}
    rows = []
    for t in sorted(tickets, key=lambda t: str(t["number"]), reverse=True)[:SHOWN_INCIDENTS]:
        journal = sorted([("work note", j) for j in t["work_notes"]] + [("comment", j) for j in t["comments"]],
                         key=lambda x: str(x[1]["created_on"]))
        entries = "".join(f'<li><span class="kind">{kind}</span> {e(str(j["created_on"]))} '
                          f'{e(str(j["created_by"]))}: <span class="journal">{e(str(j["value"]))}</span></li>'
                          for kind, j in journal)
        closing = (f"<p>Closed: {e(str(t['close_code']))} — {e(str(t['close_notes']))}</p>"
                   if t.get("close_code") else "")
        rows.append(f'<li id="ticket-{e(str(t["sys_id"]))}" aria-label="Ticket {e(str(t["number"]))}">'
                    f'<strong>{e(str(t["number"]))} {e(str(t["short_description"]))}</strong>'
                    f'<p>{e(states.get(str(t["state"]), str(t["state"])))} · {e(str(t["assignment_group"]))}</p>'
                    f"{closing}<ul class=journal-list>{entries}</ul></li>")
    return (f'<section class="panel" aria-labelledby="sn-title"><h2 id="sn-title">ServiceNow</h2>'
            f'<ul class="tickets">{"".join(rows) or "<li>No tickets yet.</li>"}</ul></section>')


def clock_panel(sandbox: World) -> str:
    now = sandbox.clock.now()
    return (f'<section class="panel" aria-labelledby="clock-title"><h2 id="clock-title">Clock</h2>'
            f'<p>World time: <time class="now" datetime="{now.isoformat()}">'
            f"{now.strftime('%Y-%m-%d %H:%M:%S %Z')}</time></p>"
            f'<form class="panel-form inline" data-route="/sandbox/clock" aria-label="Advance the clock">'
            f'{_field("Advance by (minutes)", "<input name=advance_minutes type=number min=0 value=10>")}'
            f'<button type="submit">Advance</button></form>'
            f'<form class="panel-form inline" data-route="/sandbox/clock" aria-label="Set the clock">'
            f'{_field("Set to", "<input name=set placeholder=2026-11-27T08:59:30+00:00>")}'
            f'<button type="submit">Set</button></form></section>')


def faults_panel(sandbox: World) -> str:
    listed = "".join(
        f"<li>{e(str(f['service']))} {e(str(f['method']))} → {e(str(f['status']))}"
        + (f" until {e(str(f['until']))}" if f.get("until") else f", {e(str(f['times']))} more") + "</li>"
        for f in sandbox.faults.snapshot())
    latency = "".join(f"<li>{e(service)}: +{ms} ms</li>" for service, ms in sandbox.faults.latency_ms.items())
    return (f'<section class="panel" aria-labelledby="faults-title"><h2 id="faults-title">Faults</h2>'
            f'<form class="panel-form" data-route="/sandbox/faults" aria-label="Add a fault">'
            f'{_field("Service", _select("service", [(s, s) for s in SERVICES]))}'
            f'{_field("Method", "<input name=method value=chat.postMessage>")}'
            f'{_field("Status", "<input name=status type=number value=503>")}'
            f'{_field("Times", "<input name=times type=number min=1 value=3>")}'
            f'<button type="submit">Add fault</button></form>'
            f'<ul class="faults">{listed + latency or "<li>No faults.</li>"}</ul>'
            f'<form class="panel-form" data-route="/sandbox/faults" data-method="DELETE" aria-label="Clear faults">'
            f'<button type="submit">Clear faults</button></form></section>')
