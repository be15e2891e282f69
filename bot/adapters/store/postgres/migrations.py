"""Numbered schema migrations for PostgreSQL, the same as SQLite's (bot/adapters/store/sqlite/migrations.py),
recorded one row per migration in `schema_migrations`.

migrating.py applies them: one session at a time, each migration with its row in `schema_migrations`.

Where the SQLite schema relies on SQLite itself, the PostgreSQL one says so explicitly: `seq` columns are identity
columns (SQLite's AUTOINCREMENT), the timeline has a `pos` column for the stored order (SQLite's rowid), times
written by the caller as Unix seconds are double precision, ISO 8601 times are text exactly as SQLite holds them
(they are compared as such), and flags are integers 0/1 as in SQLite.
"""

from __future__ import annotations

# The key of the advisory lock held while migrating ('pavedrd' + 1: any constant no other application uses).
MIGRATION_LOCK = 0x70617665647264_01


def _utc_iso(key: str) -> str:
    """SQL for the incident JSON's time `key` as codec.utc_iso writes it: kept when already UTC, `+00:00` added to a
    naive time, otherwise moved to UTC with its fraction of a second kept as written."""
    t = f"(data::jsonb ->> '{key}')"
    return (f"CASE WHEN {t} IS NULL THEN NULL WHEN {t} LIKE '%+00:00' THEN {t}"
            f" WHEN left(right({t}, 6), 1) NOT IN ('+', '-') THEN {t} || '+00:00'"
            f" ELSE to_char({t}::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
            f" || CASE WHEN substr({t}, 20, 1) = '.' THEN substr({t}, 20, 7) ELSE '' END || '+00:00' END")


MIGRATIONS: tuple[str, ...] = (
    # 1: inbox, incidents, timeline, outbox, the incident's Slack footprint, and the people cache.
    """
    CREATE TABLE inbox (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        number BIGINT NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX incidents_number ON incidents (number);

    CREATE TABLE timeline (
        id TEXT PRIMARY KEY,
        pos BIGINT GENERATED ALWAYS AS IDENTITY,
        incident_id TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT,
        text TEXT NOT NULL,
        slack_ts TEXT
    );
    CREATE INDEX timeline_incident ON timeline (incident_id, occurred_at);

    CREATE TABLE outbox (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        priority INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
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
        fetched_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 2: a card posted in a team channel (not a channel of its own) is marked, so it can be upgraded later.
    """
    ALTER TABLE incident_slack ADD COLUMN shared_channel INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: effects are ordered per queue (an outside system and an incident).
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
    # 8: on-call handovers (the primary key is what makes a post happen once) and the notes for the next shift.
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
        created_at DOUBLE PRECISION NOT NULL,
        posted_at DOUBLE PRECISION
    );
    CREATE INDEX handovers_rota ON handovers (rota_id, boundary);
    CREATE TABLE handover_notes (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        rota_id TEXT NOT NULL,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        shift_key TEXT
    );
    CREATE INDEX handover_notes_rota ON handover_notes (rota_id, shift_key);
    """,
    # 9: reports — deploys, counted beside incidents in the reports.
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
    # 10: de-duplication of what Slack sends twice: one row per key, kept for its window.
    """
    CREATE TABLE IF NOT EXISTS seen_once (
        key TEXT PRIMARY KEY,
        expires_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX IF NOT EXISTS seen_once_expiry ON seen_once (expires_at);
    """,
    # 11: a quarantined delivery has a short reference; rows failed before get one now.
    """
    ALTER TABLE inbox ADD COLUMN reference TEXT;
    UPDATE inbox SET reference = substr(md5(random()::text || seq::text), 1, 8) WHERE state = 'failed';
    CREATE INDEX inbox_reference ON inbox (reference) WHERE reference IS NOT NULL;
    """,
    # 12: active-active replicas. An effect being performed is leased to one replica until `leased_until` (a dead
    # replica's lease runs out and another takes the effect over); a scheduled job's run is claimed per time slot
    # (one replica runs it); Slack's per-method rate budget is one token bucket per method, shared by all replicas.
    """
    ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
    ALTER TABLE outbox ADD COLUMN leased_until DOUBLE PRECISION;
    CREATE TABLE IF NOT EXISTS job_runs (
        job TEXT NOT NULL,
        slot BIGINT NOT NULL,
        owner TEXT NOT NULL,
        claimed_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (job, slot)
    );
    CREATE INDEX IF NOT EXISTS job_runs_claimed ON job_runs (claimed_at);
    CREATE TABLE IF NOT EXISTS rate_buckets (
        key TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 13 (retention): the pruning job finds what it may delete through these partial indexes — applied or ignored
    # deliveries by when they were received, done effects by when they were queued — and never scans the rows that
    # are still work (pending, failed, dead), nor reads the history to find them.
    """
    CREATE INDEX IF NOT EXISTS inbox_settled_received ON inbox (received_at) WHERE state IN ('applied', 'ignored');
    CREATE INDEX IF NOT EXISTS outbox_done_created ON outbox (created_at) WHERE state = 'done';
    """,
    # 14: the incident's service, urgency and times as indexed columns beside its JSON (as SQLite's 14), backfilled
    # from the JSON; times ISO 8601 in UTC exactly as codec.utc_iso writes them.
    f"""
    ALTER TABLE incidents ADD COLUMN IF NOT EXISTS service_id TEXT;
    ALTER TABLE incidents ADD COLUMN IF NOT EXISTS urgency TEXT;
    ALTER TABLE incidents ADD COLUMN IF NOT EXISTS triggered_at TEXT;
    ALTER TABLE incidents ADD COLUMN IF NOT EXISTS acknowledged_at TEXT;
    ALTER TABLE incidents ADD COLUMN IF NOT EXISTS resolved_at TEXT;
    UPDATE incidents SET service_id = data::jsonb ->> 'service_id', urgency = data::jsonb ->> 'urgency',
        triggered_at = {_utc_iso("triggered_at")}, acknowledged_at = {_utc_iso("acknowledged_at")},
        resolved_at = {_utc_iso("resolved_at")};
    CREATE INDEX IF NOT EXISTS incidents_service_triggered ON incidents (service_id, triggered_at);
    CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents (resolved_at);
    CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status);
    """,
    # 15: the due-effects query served by an index (see SQLite's migration of the same purpose). Each pending
    # effect knows its `lane` and whether it is the `head` of its queue, kept in step by triggers. Under READ
    # COMMITTED a queue's insert and its head's completion could each miss the other's uncommitted row (leaving a
    # queue with no head); both triggers first take a transaction-scoped advisory lock on the queue, and each
    # statement after it sees what the other committed.
    """
    ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT 'slack';
    ALTER TABLE outbox ADD COLUMN head INTEGER NOT NULL DEFAULT 0;
    UPDATE outbox SET lane = CASE WHEN queue LIKE 'servicenow:%' THEN 'servicenow'
                                  WHEN queue LIKE 'pagerduty:%' THEN 'pagerduty' ELSE 'slack' END;
    UPDATE outbox SET head = 1 WHERE seq IN (SELECT min(seq) FROM outbox WHERE state = 'pending' GROUP BY queue);
    CREATE INDEX IF NOT EXISTS outbox_due ON outbox (lane, priority, seq) WHERE state = 'pending' AND head = 1;
    CREATE INDEX IF NOT EXISTS outbox_next_due
        ON outbox (lane, greatest(next_attempt_at, coalesce(leased_until, 0)))
        WHERE state = 'pending' AND head = 1;
    CREATE OR REPLACE FUNCTION outbox_queued() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock(1869, hashtext(NEW.queue));
        NEW.lane := CASE WHEN NEW.queue LIKE 'servicenow:%' THEN 'servicenow'
                         WHEN NEW.queue LIKE 'pagerduty:%' THEN 'pagerduty' ELSE 'slack' END;
        NEW.head := CASE WHEN NEW.state = 'pending' AND NOT EXISTS (
            SELECT 1 FROM outbox p WHERE p.state = 'pending' AND p.queue = NEW.queue) THEN 1 ELSE 0 END;
        RETURN NEW;
    END $$;
    CREATE OR REPLACE FUNCTION outbox_head_left() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock(1869, hashtext(OLD.queue));
        UPDATE outbox SET head = 1 WHERE seq = (
            SELECT min(seq) FROM outbox p WHERE p.state = 'pending' AND p.queue = OLD.queue) AND head = 0;
        RETURN NULL;
    END $$;
    DROP TRIGGER IF EXISTS outbox_queued ON outbox;
    CREATE TRIGGER outbox_queued BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_queued();
    DROP TRIGGER IF EXISTS outbox_head_left ON outbox;
    CREATE TRIGGER outbox_head_left AFTER UPDATE OF state ON outbox FOR EACH ROW
        WHEN (OLD.state = 'pending' AND NEW.state <> 'pending') EXECUTE FUNCTION outbox_head_left();
    DROP TRIGGER IF EXISTS outbox_head_deleted ON outbox;
    CREATE TRIGGER outbox_head_deleted AFTER DELETE ON outbox FOR EACH ROW
        WHEN (OLD.state = 'pending') EXECUTE FUNCTION outbox_head_left();
    """,
    # 16 (after 14, whose columns it reads): each incident's time to acknowledge and to restore in whole
    # microseconds, for the reports (as SQLite's 16), and the index that covers a report's reads.
    """
    ALTER TABLE incidents ADD COLUMN IF NOT EXISTS tta_us BIGINT;
    ALTER TABLE incidents ADD COLUMN IF NOT EXISTS ttr_us BIGINT;
    UPDATE incidents SET
        tta_us = (extract(epoch from acknowledged_at::timestamptz - triggered_at::timestamptz) * 1000000)::bigint,
        ttr_us = (extract(epoch from resolved_at::timestamptz - triggered_at::timestamptz) * 1000000)::bigint;
    CREATE INDEX IF NOT EXISTS incidents_report ON incidents (service_id, triggered_at, tta_us, ttr_us);
    """,
    # 17 (after 16, whose columns it indexes): the index a report walks per service and month, as SQLite's 17; it
    # replaces 16's.
    """
    DROP INDEX IF EXISTS incidents_report;
    CREATE INDEX IF NOT EXISTS incidents_report_months
        ON incidents (service_id, substr(triggered_at, 1, 7), triggered_at, tta_us, ttr_us);
    """,
    # 18 (PostgreSQL only): an effect's seq — its place in its queue — is drawn once its queue's lock is held. The
    # column's default is drawn before any BEFORE trigger runs, so an insert waiting for the lock (a lone
    # queue_effect) held a seq lower than the effects queued meanwhile by the lock's holder (an outcome that left
    # the queue's head, then queued a card refresh there): committed after them, it was not the head yet was first
    # by seq, which is what claim_effect asks of a head — nothing in that queue could be claimed again
    # (tests/store/test_postgres_queue_locks.py). 15's trigger again, the seq drawn after the lock; then each queue
    # left so is mended (its lowest pending seq the head), under the applier's lock as every writer of several
    # queues.
    """
    CREATE OR REPLACE FUNCTION outbox_queued() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock(1869, hashtext(NEW.queue));
        NEW.seq := nextval(pg_get_serial_sequence('outbox', 'seq'));
        NEW.lane := CASE WHEN NEW.queue LIKE 'servicenow:%' THEN 'servicenow'
                         WHEN NEW.queue LIKE 'pagerduty:%' THEN 'pagerduty' ELSE 'slack' END;
        NEW.head := CASE WHEN NEW.state = 'pending' AND NOT EXISTS (
            SELECT 1 FROM outbox p WHERE p.state = 'pending' AND p.queue = NEW.queue) THEN 1 ELSE 0 END;
        RETURN NEW;
    END $$;
    SELECT pg_advisory_xact_lock(8097883782837855234);  -- QUEUES_LOCK (outbox.py)
    DO $$
    DECLARE q TEXT;
    BEGIN
        FOR q IN SELECT o.queue FROM outbox o WHERE o.state = 'pending' AND o.head = 0 AND o.seq = (
                SELECT min(p.seq) FROM outbox p WHERE p.state = 'pending' AND p.queue = o.queue) LOOP
            PERFORM pg_advisory_xact_lock(1869, hashtext(q));
            UPDATE outbox SET head = CASE WHEN seq = (SELECT min(p.seq) FROM outbox p WHERE p.state = 'pending'
                                                      AND p.queue = q) THEN 1 ELSE 0 END
                WHERE state = 'pending' AND queue = q;
        END LOOP;
    END $$;
    """,
    # 19: an effect's attempts refused for rate limiting and when the first was (see SQLite's 19).
    """
    ALTER TABLE outbox ADD COLUMN IF NOT EXISTS rate_limits INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN IF NOT EXISTS rate_limited_since DOUBLE PRECISION;
    """,
    # 20: the pending records from Slack, by incident: a record of a type this version does not know (a newer
    # version's) holds back its incident's rows behind it, and the applier's read looks for one per row it reads
    # (bot/adapters/store/unreadable.py) — a seek into these few rows, not a scan of the pending ones.
    """
    CREATE INDEX IF NOT EXISTS inbox_pending_from_slack ON inbox (incident_id, seq)
        WHERE state = 'pending' AND source = 'slack';
    """,
    # 21: an effect's attempts refused for our credentials (see SQLite's 21).
    """
    ALTER TABLE outbox ADD COLUMN IF NOT EXISTS credentials_refusals INTEGER NOT NULL DEFAULT 0;
    """,
    # 22: the pending rows by incident, for the look of each arriving delivery's incident (see SQLite's 22).
    """
    CREATE INDEX IF NOT EXISTS inbox_pending_incident ON inbox (incident_id, source, seq) WHERE state = 'pending';
    """,
    # 23: the bot removed from the incident's own channel (see SQLite's 23).
    """
    ALTER TABLE incident_slack ADD COLUMN IF NOT EXISTS bot_removed INTEGER NOT NULL DEFAULT 0;
    """,
)


class NotTheBotsSchema(Exception):
    """The schema the bot would create its tables in is not one it may use; `str(error)` says why and what to do,
    following "the database at URL" (connection.py names the setting and the URL)."""


# What decides where the bot's tables are: the schema it creates them in (the search_path's first usable one, NULL
# when none is), the role, the path, the schema of the bot's `schema_migrations` the path finds (NULL: none), and
# the first few relations of that schema — tables, partitioned tables, views, materialized views, foreign tables.
SCHEMA_LOOK = """
    SELECT current_schema(), current_user, current_setting('search_path'),
           (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = to_regclass('schema_migrations')),
           array(SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                  ORDER BY c.relname LIMIT 4)
"""


def schema_refusal(look: tuple[str | None, str, str, str | None, list[str]]) -> str | None:
    """Why the bot must not create its tables where SCHEMA_LOOK says it would (None: it may — its own schema, or
    an empty one, which may become its own). As SQLite's `holds_another_schema`, and where PostgreSQL's search_path
    would otherwise have the bot create new, empty tables beside another application's or in front of its own."""
    schema, user, path, bots, relations = look
    own = "options=-csearch_path%3D{schema} to the URL's query (after ? or &)"
    if schema is None:
        return (f"has no schema the bot can create its tables in: none of its search_path ({path}) exists or can be "
                f"used by {user}; nothing was changed. Create one — CREATE SCHEMA pavedroad AUTHORIZATION {user} — "
                f"and add {own.format(schema='pavedroad')}")
    if bots == schema:
        return None
    shown = ", ".join(relations[:3]) + (", …" if len(relations) > 3 else "")
    if bots is not None:
        return (f"holds the bot's tables in schema {bots}, but its search_path ({path}) puts schema {schema} first, "
                + (f"which holds another application's tables ({shown}); nothing was changed. Add "
                   f"{own.format(schema=bots)}" if relations else
                   f"where the bot would create new, empty ones; nothing was changed. Add {own.format(schema=bots)},"
                   f" or drop schema {schema} if it was made by mistake (it is empty)"))
    if relations:
        return (f"holds another application's tables ({shown}) in schema {schema}, not the bot's; nothing was "
                f"changed. Point the URL at the bot's own database, or give the bot a schema of its own in this one: "
                f"CREATE SCHEMA pavedroad AUTHORIZATION {user}, then add {own.format(schema='pavedroad')}")
    return None

