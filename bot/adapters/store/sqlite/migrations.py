"""Numbered schema migrations, applied in order at start-up; `PRAGMA user_version` records the last applied."""

from __future__ import annotations

import sqlite3


def _utc_iso(key: str) -> str:
    """SQL for the incident JSON's time `key` as codec.utc_iso writes it: kept when already UTC, `+00:00` added to a
    naive time, otherwise moved to UTC (strftime, given the time without its fraction: SQLite would round that to the
    millisecond) with its fraction of a second kept as written."""
    t = f"json_extract(data, '$.{key}')"
    return (f"CASE WHEN {t} IS NULL THEN NULL WHEN {t} LIKE '%+00:00' THEN {t}"
            f" WHEN substr({t}, -6, 1) NOT IN ('+', '-') THEN {t} || '+00:00'"
            f" ELSE strftime('%Y-%m-%dT%H:%M:%S', substr({t}, 1, 19) || substr({t}, -6))"
            f" || CASE WHEN substr({t}, 20, 1) = '.' THEN substr({t}, 20, 7) ELSE '' END || '+00:00' END")


def _micros(column: str) -> str:
    """SQL for a UTC ISO time column (migration 14's) in whole microseconds since the epoch (NULL stays NULL)."""
    return (f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000 + CASE WHEN substr({column}, 20, 1)"
            f" = '.' THEN CAST(substr({column}, 21, 6) AS INTEGER) ELSE 0 END)")


MIGRATIONS: tuple[str, ...] = (
    # 1: inbox, incidents, timeline, outbox, the incident's Slack footprint, and the people cache.
    """
    CREATE TABLE inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        incident_id TEXT,
        occurred_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        error TEXT
    );
    CREATE UNIQUE INDEX inbox_delivery ON inbox (source, delivery_id);
    CREATE UNIQUE INDEX inbox_event ON inbox (source, event_id);
    CREATE INDEX inbox_pending ON inbox (state, seq);

    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        number INTEGER NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX incidents_number ON incidents (number);

    CREATE TABLE timeline (
        id TEXT PRIMARY KEY,
        incident_id TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT,
        text TEXT NOT NULL,
        slack_ts TEXT
    );
    CREATE INDEX timeline_incident ON timeline (incident_id, occurred_at);

    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        priority INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        created_at REAL NOT NULL,
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox (state, incident_id, seq);

    CREATE TABLE incident_slack (
        incident_id TEXT PRIMARY KEY,
        channel_id TEXT,
        channel_name TEXT,
        card_ts TEXT,
        card_pinned INTEGER NOT NULL DEFAULT 0,
        topic TEXT,
        announced_ts TEXT,
        invited TEXT NOT NULL DEFAULT '[]',
        unreachable TEXT NOT NULL DEFAULT '[]'
    );

    CREATE TABLE people (
        pagerduty_user_id TEXT PRIMARY KEY,
        name TEXT,
        email TEXT,
        slack_user_id TEXT,
        fetched_at REAL NOT NULL
    );
    """,
    # 2: a card posted in a team channel (not a channel of its own) is marked, so it can be upgraded later.
    """
    ALTER TABLE incident_slack ADD COLUMN shared_channel INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: effects are ordered per queue (an outside system and an incident), so ServiceNow being down never holds up
    # the Slack channel, and the other way round.
    """
    ALTER TABLE outbox ADD COLUMN queue TEXT NOT NULL DEFAULT '';
    UPDATE outbox SET queue = 'slack:' || incident_id;
    CREATE INDEX outbox_queue ON outbox (state, queue, seq);
    """,
    # 4: the incident's ServiceNow ticket, and which timeline entries it has been told as work notes.
    """
    CREATE TABLE tickets (
        incident_id TEXT PRIMARY KEY,
        sys_id TEXT NOT NULL,
        number TEXT NOT NULL,
        link TEXT NOT NULL,
        state TEXT
    );
    CREATE UNIQUE INDEX tickets_sys_id ON tickets (sys_id);
    ALTER TABLE timeline ADD COLUMN ticket_noted INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: the card says "ServiceNow sync pending": once the backlog drains, it must be refreshed to say otherwise.
    """
    ALTER TABLE incident_slack ADD COLUMN sync_pending_shown INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: the work-note batch a timeline line was put in before it was sent, so a retry resends the same batch.
    """
    ALTER TABLE timeline ADD COLUMN ticket_batch TEXT;
    """,
    # 7: whether the ticket has been given the link to the incident's Slack channel.
    """
    ALTER TABLE tickets ADD COLUMN channel_told INTEGER NOT NULL DEFAULT 0;
    """,
    # 8: on-call handovers — one row per rota and shift boundary (the primary key is what makes a post happen
    # once), and the notes the outgoing engineer leaves for the next one.
    """
    CREATE TABLE handovers (
        shift_key TEXT PRIMARY KEY,
        rota_id TEXT NOT NULL,
        boundary TEXT NOT NULL,
        late INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        outgoing TEXT,
        incoming TEXT,
        channel TEXT,
        ts TEXT,
        created_at REAL NOT NULL,
        posted_at REAL
    );
    CREATE INDEX handovers_rota ON handovers (rota_id, boundary);
    CREATE TABLE handover_notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        rota_id TEXT NOT NULL,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        shift_key TEXT
    );
    CREATE INDEX handover_notes_rota ON handover_notes (rota_id, shift_key);
    """,
    # 9: reports — deploys (PagerDuty change events, or a synthetic history), counted beside incidents in the reports.
    # `service_id` is the PagerDuty service id; `id` the change event's id, so importing twice adds nothing.
    """
    CREATE TABLE IF NOT EXISTS deploys (
        id TEXT PRIMARY KEY,
        service_id TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS deploys_time ON deploys (occurred_at);
    """,
    # 10: de-duplication of what Slack sends twice (retries, double clicks, a repeated command): one row per key,
    # kept for its window, so that every replica sharing the database agrees on what was seen first.
    """
    CREATE TABLE IF NOT EXISTS seen_once (
        key TEXT PRIMARY KEY,
        expires_at REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS seen_once_expiry ON seen_once (expires_at);
    """,
    # 11: a quarantined delivery (state 'failed') has a short reference: in the operators' alert, the logs (with its
    # traceback) and `pavedroad inbox failed`, and what `pavedroad inbox retry` takes. Rows failed before get one now.
    """
    ALTER TABLE inbox ADD COLUMN reference TEXT;
    UPDATE inbox SET reference = lower(hex(randomblob(4))) WHERE state = 'failed';
    CREATE INDEX inbox_reference ON inbox (reference) WHERE reference IS NOT NULL;
    """,
    # 12: active-active replicas. An effect being performed is leased to one replica until `leased_until` (a dead
    # replica's lease runs out and another takes the effect over); a scheduled job's run is claimed per time slot
    # (one replica runs it); Slack's per-method rate budget is one token bucket per method, shared by all replicas.
    """
    ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
    ALTER TABLE outbox ADD COLUMN leased_until REAL;
    CREATE TABLE IF NOT EXISTS job_runs (
        job TEXT NOT NULL,
        slot INTEGER NOT NULL,
        owner TEXT NOT NULL,
        claimed_at REAL NOT NULL,
        PRIMARY KEY (job, slot)
    );
    CREATE INDEX IF NOT EXISTS job_runs_claimed ON job_runs (claimed_at);
    CREATE TABLE IF NOT EXISTS rate_buckets (
        key TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 13 (retention): the pruning job finds what it may delete through these partial indexes — applied or ignored
    # deliveries by when they were received, done effects by when they were queued — and never scans the rows that
    # are still work (pending, failed, dead), nor reads the history to find them.
    """
    CREATE INDEX IF NOT EXISTS inbox_settled_received ON inbox (received_at) WHERE state IN ('applied', 'ignored');
    CREATE INDEX IF NOT EXISTS outbox_done_created ON outbox (created_at) WHERE state = 'done';
    """,
    # 14: the incident's service, urgency and times as indexed columns beside its JSON, so handovers, status and
    # reports ask for exactly what they show (by service and trigger time, by resolve time, by status) instead of
    # decoding every incident. Times are ISO 8601 in UTC (codec.utc_iso): text order is time order. Every write of an
    # incident keeps them in step; rows written before are backfilled from their JSON here.
    f"""
    ALTER TABLE incidents ADD COLUMN service_id TEXT;
    ALTER TABLE incidents ADD COLUMN urgency TEXT;
    ALTER TABLE incidents ADD COLUMN triggered_at TEXT;
    ALTER TABLE incidents ADD COLUMN acknowledged_at TEXT;
    ALTER TABLE incidents ADD COLUMN resolved_at TEXT;
    UPDATE incidents SET service_id = json_extract(data, '$.service_id'), urgency = json_extract(data, '$.urgency'),
        triggered_at = {_utc_iso("triggered_at")}, acknowledged_at = {_utc_iso("acknowledged_at")},
        resolved_at = {_utc_iso("resolved_at")};
    CREATE INDEX IF NOT EXISTS incidents_service_triggered ON incidents (service_id, triggered_at);
    CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents (resolved_at);
    CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status);
    """,
    # 15 (d16): the due-effects query served by an index. Each pending effect knows its `lane` (the outside system it
    # talks to: slack, servicenow or pagerduty; every queue not ServiceNow's or PagerDuty's calls Slack) and whether
    # it is the `head` of its queue (the first pending effect: the only one that may run). Triggers keep both in step
    # whoever writes the outbox: an effect queued behind another is not a head; when a head stops being pending
    # (done, dead, deleted), the next effect of its queue becomes one. The dispatcher then reads, per lane, the
    # heads in priority order from `outbox_due` and stops at its limit, however many effects wait behind them.
    """
    ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT 'slack';
    ALTER TABLE outbox ADD COLUMN head INTEGER NOT NULL DEFAULT 0;
    UPDATE outbox SET lane = CASE WHEN queue LIKE 'servicenow:%' THEN 'servicenow'
                                  WHEN queue LIKE 'pagerduty:%' THEN 'pagerduty' ELSE 'slack' END;
    UPDATE outbox SET head = 1 WHERE seq IN (SELECT min(seq) FROM outbox WHERE state = 'pending' GROUP BY queue);
    CREATE INDEX IF NOT EXISTS outbox_due ON outbox (lane, priority, seq) WHERE state = 'pending' AND head = 1;
    CREATE INDEX IF NOT EXISTS outbox_next_due ON outbox (lane, max(next_attempt_at, coalesce(leased_until, 0)))
        WHERE state = 'pending' AND head = 1;
    CREATE TRIGGER IF NOT EXISTS outbox_queued AFTER INSERT ON outbox BEGIN
        UPDATE outbox SET
            lane = CASE WHEN NEW.queue LIKE 'servicenow:%' THEN 'servicenow'
                        WHEN NEW.queue LIKE 'pagerduty:%' THEN 'pagerduty' ELSE 'slack' END,
            head = NEW.state = 'pending' AND NOT EXISTS (
                SELECT 1 FROM outbox p WHERE p.state = 'pending' AND p.queue = NEW.queue AND p.seq < NEW.seq)
        WHERE seq = NEW.seq;
    END;
    CREATE TRIGGER IF NOT EXISTS outbox_head_left AFTER UPDATE OF state ON outbox
        WHEN OLD.state = 'pending' AND NEW.state != 'pending' BEGIN
        UPDATE outbox SET head = 1 WHERE seq = (
            SELECT min(seq) FROM outbox p WHERE p.state = 'pending' AND p.queue = NEW.queue) AND head = 0;
    END;
    CREATE TRIGGER IF NOT EXISTS outbox_head_deleted AFTER DELETE ON outbox WHEN OLD.state = 'pending' BEGIN
        UPDATE outbox SET head = 1 WHERE seq = (
            SELECT min(seq) FROM outbox p WHERE p.state = 'pending' AND p.queue = OLD.queue) AND head = 0;
    END;
    """,
    # 16 (after 14, whose columns it reads): reports add up and order each incident's time to acknowledge and to
    # restore, in whole microseconds (NULL until acknowledged / resolved); every write of an incident keeps them in
    # step (codec.report_columns). One index covers a report's reads, so it never touches the incidents' JSON.
    f"""
    ALTER TABLE incidents ADD COLUMN tta_us INTEGER;
    ALTER TABLE incidents ADD COLUMN ttr_us INTEGER;
    UPDATE incidents SET tta_us = {_micros("acknowledged_at")} - {_micros("triggered_at")},
        ttr_us = {_micros("resolved_at")} - {_micros("triggered_at")};
    CREATE INDEX IF NOT EXISTS incidents_report ON incidents (service_id, triggered_at, tta_us, ttr_us);
    """,
    # 17 (after 16, whose columns it indexes): a report reads per service and month (report_sql.py): its index leads
    # with the month, written as the report's SQL writes it, so the cells are grouped as the index is walked, never
    # sorted; 16's index on (service, trigger time, TTA, TTR), which it replaces, is dropped.
    """
    DROP INDEX IF EXISTS incidents_report;
    CREATE INDEX IF NOT EXISTS incidents_report_months
        ON incidents (service_id, substr(triggered_at, 1, 7), triggered_at, tta_us, ttr_us);
    """,
    # 18: nothing here (the numbers are both stores'): PostgreSQL's 18 draws an effect's seq once its queue's lock is
    # held; SQLite has one writer at a time, so an effect's seq is already its place in its queue.
    """
    SELECT 1;
    """,
    # 19: an effect's attempts a service refused for rate limiting (a 429) and when the first was refused: the
    # dispatcher does not count them against the retry policy's attempts, and bounds them by time instead.
    """
    ALTER TABLE outbox ADD COLUMN rate_limits INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN rate_limited_since REAL;
    """,
    # 20: the pending records from Slack, by incident: a record of a type this version does not know (a newer
    # version's) holds back its incident's rows behind it, and the applier's read looks for one per row it reads
    # (bot/adapters/store/unreadable.py) — a seek into these few rows, not a scan of the pending ones.
    """
    CREATE INDEX IF NOT EXISTS inbox_pending_from_slack ON inbox (incident_id, seq)
        WHERE state = 'pending' AND source = 'slack';
    """,
    # 21: an effect's attempts a service refused because it did not accept our credentials (Slack refusing the bot's
    # token): the dispatcher does not count them against the retry policy's attempts, nor bounds them.
    """
    ALTER TABLE outbox ADD COLUMN credentials_refusals INTEGER NOT NULL DEFAULT 0;
    """,
    # 22: the pending rows by incident: a delivery is applied on arrival unless a row of its incident (or one with no
    # incident) is pending, and the look at each arriving incident is a seek into these rows (sqlite/inbox.py
    # `_Waiting`), not a walk of a backlog of other incidents' rows.
    """
    CREATE INDEX IF NOT EXISTS inbox_pending_incident ON inbox (incident_id, source, seq) WHERE state = 'pending';
    """,
    # 23: someone removed the bot from the incident's own channel: its topic waits, with no call spent on it, until
    # the bot is invited back (bot/services/channel_events.py).
    """
    ALTER TABLE incident_slack ADD COLUMN bot_removed INTEGER NOT NULL DEFAULT 0;
    """,
)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the database's user_version; return the resulting version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first; the version bump is inside the same script so a crash leaves either both.
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    return len(MIGRATIONS)


def holds_the_bots_schema(conn: sqlite3.Connection) -> bool:
    """Whether this is the bot's database: migrated at least once (it has a schema version) and holding its inbox.
    Reads only: a command given the wrong --db asks this before it migrates (which would add the bot's tables)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    inbox = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inbox'").fetchone()
    return version > 0 and inbox is not None


def holds_another_schema(conn: sqlite3.Connection) -> bool:
    """Tables in it, but not the bot's: another application's database. An empty (new) file is not: it may become
    the bot's."""
    return not holds_the_bots_schema(conn) and conn.execute("SELECT 1 FROM sqlite_master").fetchone() is not None
