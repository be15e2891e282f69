"""Outbox SQL written once for both stores: statements that use nothing either dialect lacks."""

# What a dead effect is shown with (each store's outbox.py, and incidents.py's report of one incident).
DEAD_COLUMNS = "seq, incident_id, kind, attempts, last_error"

# Per open incident (`i`): its latest card refresh, pending or else done, whether one is pending, and whether its
# channel's opening waits to begin: no attempt yet but refusals (a 429, a token refused), none under way — refused, it
# is still a new incident's channel the dispatcher performs first when due (one that failed otherwise, or is under way,
# has begun). Each subquery is a seek into outbox_pending (state, incident_id, seq); the done one reads that
# incident's rows from the newest back and stops at the first refresh.
CARD_REFRESH_STATES = (
    "SELECT i.id AS incident_id, coalesce("
    " (SELECT max(o.created_at) FROM outbox o WHERE o.state = 'pending' AND o.incident_id = i.id"
    "  AND o.kind = 'refresh_card'),"
    " (SELECT o.created_at FROM outbox o WHERE o.state = 'done' AND o.incident_id = i.id AND o.kind = 'refresh_card'"
    "  ORDER BY o.seq DESC LIMIT 1)) AS queued_at,"
    " EXISTS (SELECT 1 FROM outbox o WHERE o.state = 'pending' AND o.incident_id = i.id"
    "  AND o.kind = 'refresh_card') AS pending,"
    " EXISTS (SELECT 1 FROM outbox o WHERE o.state = 'pending' AND o.incident_id = i.id"
    "  AND o.kind = 'open_incident_channel' AND o.attempts = o.rate_limits + o.credentials_refusals) AS opening,"
    " EXISTS (SELECT 1 FROM incident_slack s WHERE s.incident_id = i.id AND s.card_ts IS NOT NULL) AS drawn"
    " FROM incidents i WHERE i.status IN ('triggered', 'acknowledged') ORDER BY i.number")

# What of an incident's ticket queue (`servicenow:<incident>`) counts as ServiceNow lagging, so that its card says
# "sync pending": a pending effect ServiceNow has failed at least once (its retry keeps the error; done clears it).
# One merely queued, or in its first attempt, is not: ServiceNow answers it within the second, and shown it cost a
# second chat.update (and two footprint writes) to take the words back (session 7, found in s7claims).
LAGGING = "state = 'pending' AND last_error IS NOT NULL"
# Parameters: the queue ({p}: the dialect's placeholder). A seek into outbox_queue (state, queue, seq).
TICKET_QUEUE_LAGGING = "SELECT count(*) AS lagging FROM outbox WHERE queue = {p} AND " + LAGGING

# Parameter ({p}): the incident. Its channel's opening is pending (an opened ticket's card refresh is left to it:
# EffectBookkeeping.refresh_card_for_ticket). A seek into outbox_pending (state, incident_id, seq).
OPENING_PENDING = ("SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND incident_id = {p}"
                   " AND kind = 'open_incident_channel') AS waiting")
# Parameter ({p}): the incident. It has a ticket (EffectBookkeeping.refresh_card_if_ticket).
HAS_TICKET = "SELECT EXISTS (SELECT 1 FROM tickets WHERE incident_id = {p}) AS opened"
