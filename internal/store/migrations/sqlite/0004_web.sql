-- Web UI: server-side sessions, and the indexes behind the dashboard, the
-- patch list, the board and the audit page. Timestamps are INTEGER
-- microseconds since the Unix epoch, UTC.

-- A session is created when a person exchanges an API token for a browser
-- session. Only the SHA-256 of the session id (the cookie value) is stored.
-- A session lives while its token lives: lookups join tokens and refuse a
-- revoked or expired token, so revoking a token ends its sessions. It also
-- ends when idle past idle_until or at expires_at (the absolute limit).
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    hash       TEXT    NOT NULL UNIQUE,
    token_id   INTEGER NOT NULL REFERENCES tokens (id),
    csrf       TEXT    NOT NULL,
    user_agent TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    idle_until INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_token ON sessions (token_id);

-- The patch list orders by "CASE WHEN due_at IS NULL THEN 1 ELSE 0 END,
-- due_at, id" (store.patchOrder "due"). Indexes on that exact expression let
-- both engines read a page in order instead of sorting every match:
-- open or closed patches (the list's default views, with the search text so
-- that word filters are checked in the index), open patches of one priority
-- (dashboard, priority filter), one state of one kind (board columns, state
-- filters) and all patches. They replace the plain (is_open, due_at, id),
-- (is_open, priority_rank, due_at, id) and (kind, state) indexes, which led
-- the planner to range-scan and then sort tens of thousands of rows for the
-- "overdue", "priority" and "kind" filters.
DROP INDEX patches_open_due;
DROP INDEX patches_open_priority_due;
DROP INDEX patches_state;
CREATE INDEX patches_open_due_order ON patches (is_open, (CASE WHEN due_at IS NULL THEN 1 ELSE 0 END), due_at, id, search);
CREATE INDEX patches_open_priority_due_order ON patches (is_open, priority_rank, (CASE WHEN due_at IS NULL THEN 1 ELSE 0 END), due_at, id);
CREATE INDEX patches_kind_state_due ON patches (kind, state, (CASE WHEN due_at IS NULL THEN 1 ELSE 0 END), due_at, id);
CREATE INDEX patches_due_order ON patches ((CASE WHEN due_at IS NULL THEN 1 ELSE 0 END), due_at, id);

-- The infrastructure boards show patches with downtime and those without
-- apart (each has its own lifecycle). The flag lives in the target's JSON
-- text, where json.Marshal writes "downtime":true only when it is set; this
-- partial index on that match keeps the board from reading every
-- infrastructure patch for each column.
CREATE INDEX patches_infra_downtime ON patches ((target LIKE '%"downtime":true%'), state, (CASE WHEN due_at IS NULL THEN 1 ELSE 0 END), due_at, id) WHERE kind = 'infrastructure';

-- SLA compliance counts patches closed as done in a period, on time or late.
CREATE INDEX patches_closed ON patches (state, closed_at, due_at);

-- Halted rollouts are few; the dashboard lists them, latest first.
CREATE INDEX patches_halted ON patches (updated_at, id) WHERE halt IS NOT NULL;

-- Audit page filters.
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
