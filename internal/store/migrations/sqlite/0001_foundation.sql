-- Foundation: patches, their links, evidence, transitions, overrides,
-- priority history, rollout waves, stable versions, tokens, the audit chain,
-- timers, leases and the outbox. Timestamps are INTEGER microseconds since the
-- Unix epoch, UTC; JSON is TEXT.

CREATE TABLE patches (
    id               INTEGER PRIMARY KEY,
    title            TEXT    NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    kind             TEXT    NOT NULL,
    target           TEXT    NOT NULL,
    owner            TEXT    NOT NULL DEFAULT '',
    state            TEXT    NOT NULL,
    is_open          INTEGER NOT NULL DEFAULT 1,
    labels           TEXT    NOT NULL DEFAULT '[]',
    priority         TEXT    NOT NULL,
    priority_rank    INTEGER NOT NULL,
    priority_rule    TEXT    NOT NULL DEFAULT '',
    priority_pinned  INTEGER NOT NULL DEFAULT 0,
    policy_version   TEXT    NOT NULL DEFAULT '',
    detected_at      INTEGER NOT NULL,
    due_at           INTEGER,
    version          TEXT    NOT NULL DEFAULT '',
    branch           TEXT    NOT NULL DEFAULT '',
    window_start     INTEGER,
    window_end       INTEGER,
    window_booked_by TEXT    NOT NULL DEFAULT '',
    window_booked_at INTEGER,
    halt             TEXT,
    soak_started_at  INTEGER,
    revision         INTEGER NOT NULL DEFAULT 1,
    created_by       TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    closed_at        INTEGER,
    search           TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX patches_open_due ON patches (is_open, due_at, id);
CREATE INDEX patches_open_priority_due ON patches (is_open, priority_rank, due_at, id);
CREATE INDEX patches_state ON patches (kind, state);

CREATE TABLE patch_links (
    id          INTEGER PRIMARY KEY,
    patch_id    INTEGER NOT NULL REFERENCES patches (id),
    type        TEXT    NOT NULL,
    ref         TEXT    NOT NULL,
    aliases     TEXT    NOT NULL DEFAULT '[]',
    attributes  TEXT    NOT NULL DEFAULT '{}',
    detected_at INTEGER NOT NULL,
    added_by    TEXT    NOT NULL,
    added_at    INTEGER NOT NULL,
    UNIQUE (patch_id, type, ref)
);
CREATE INDEX patch_links_ref ON patch_links (type, ref);

CREATE TABLE evidence (
    id          INTEGER PRIMARY KEY,
    patch_id    INTEGER NOT NULL REFERENCES patches (id),
    kind        TEXT    NOT NULL,
    ref         TEXT    NOT NULL DEFAULT '',
    environment TEXT    NOT NULL DEFAULT '',
    version     TEXT    NOT NULL DEFAULT '',
    result      TEXT    NOT NULL DEFAULT '',
    subject     TEXT    NOT NULL DEFAULT '',
    source      TEXT    NOT NULL DEFAULT 'manual',
    details     TEXT    NOT NULL DEFAULT '{}',
    actor       TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX evidence_patch ON evidence (patch_id, id);

CREATE TABLE transitions (
    id         INTEGER PRIMARY KEY,
    patch_id   INTEGER NOT NULL REFERENCES patches (id),
    from_state TEXT    NOT NULL,
    to_state   TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    note       TEXT    NOT NULL DEFAULT '',
    override   INTEGER NOT NULL DEFAULT 0,
    at         INTEGER NOT NULL
);
CREATE INDEX transitions_patch ON transitions (patch_id, id);
CREATE INDEX transitions_at ON transitions (at);

CREATE TABLE overrides (
    id            INTEGER PRIMARY KEY,
    patch_id      INTEGER NOT NULL REFERENCES patches (id),
    from_state    TEXT    NOT NULL,
    to_state      TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    gates         TEXT    NOT NULL,
    justification TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX overrides_patch ON overrides (patch_id);

CREATE TABLE priority_changes (
    id             INTEGER PRIMARY KEY,
    patch_id       INTEGER NOT NULL REFERENCES patches (id),
    at             INTEGER NOT NULL,
    from_priority  TEXT    NOT NULL DEFAULT '',
    to_priority    TEXT    NOT NULL,
    rule           TEXT    NOT NULL,
    reason         TEXT    NOT NULL DEFAULT '',
    policy_version TEXT    NOT NULL DEFAULT '',
    due_at         INTEGER,
    actor          TEXT    NOT NULL
);
CREATE INDEX priority_changes_patch ON priority_changes (patch_id, id);

CREATE TABLE waves (
    patch_id     INTEGER NOT NULL REFERENCES patches (id),
    seq          INTEGER NOT NULL,
    phase        TEXT    NOT NULL,
    cluster      TEXT    NOT NULL,
    node_pool    TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    started_at   INTEGER,
    completed_at INTEGER,
    started_by   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (patch_id, seq)
);

CREATE TABLE stable_versions (
    id          INTEGER PRIMARY KEY,
    subject     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    patch_id    INTEGER,
    source      TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX stable_versions_lookup ON stable_versions (subject, environment, recorded_at);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    revoked_by   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    role      TEXT    NOT NULL DEFAULT '',
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    data      TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);
CREATE INDEX audit_events_hash ON audit_events (hash);

-- audit_head holds the tip of the chain. Appending reads and updates it in
-- the writing transaction, which serialises appends on every engine and lets
-- verify detect rows deleted from the end of the log.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

CREATE TABLE timers (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    due_at      INTEGER NOT NULL,
    payload     TEXT    NOT NULL DEFAULT '{}',
    state       TEXT    NOT NULL DEFAULT 'pending',
    claimed_by  TEXT    NOT NULL DEFAULT '',
    lease_until INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    done_at     INTEGER,
    UNIQUE (kind, subject)
);
CREATE INDEX timers_due ON timers (state, due_at);

CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    topic           TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (delivered_at, next_attempt_at);
CREATE INDEX outbox_subject ON outbox (subject, id);

CREATE TABLE policies (
    version   TEXT    PRIMARY KEY,
    loaded_at INTEGER NOT NULL,
    content   TEXT    NOT NULL
);
