-- Vulnerability intake: assets, imports, findings, vulnerability
-- enrichment (KEV, EPSS) and aliases, and the groups that tie findings to
-- the patches that fix them.

CREATE TABLE assets (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    digest          TEXT    NOT NULL DEFAULT '',
    grp             TEXT    NOT NULL DEFAULT '',
    last_import_id  INTEGER,
    last_scanned_at INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (kind, name)
);

CREATE TABLE imports (
    id          INTEGER PRIMARY KEY,
    format      TEXT    NOT NULL,
    source      TEXT    NOT NULL DEFAULT '',
    actor       TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    bytes_total INTEGER NOT NULL DEFAULT 0,
    bytes_read  INTEGER NOT NULL DEFAULT 0,
    records     INTEGER NOT NULL DEFAULT 0,
    summary     TEXT    NOT NULL DEFAULT '{}',
    error       TEXT    NOT NULL DEFAULT '',
    -- SHA-256 of the report and the asset override it was imported with:
    -- a byte-identical re-import of the latest import of its assets changes
    -- nothing and is recognised without parsing.
    content_hash TEXT   NOT NULL DEFAULT '',
    asset_override TEXT NOT NULL DEFAULT '',
    asset_ids   TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX imports_started ON imports (started_at);
CREATE INDEX imports_content ON imports (content_hash) WHERE content_hash <> '';

-- One finding per (asset, vulnerability, package, installed version); the
-- vulnerability is its canonical id (a CVE when any alias is one).
CREATE TABLE findings (
    id                INTEGER PRIMARY KEY,
    asset_id          INTEGER NOT NULL REFERENCES assets (id),
    vuln_id           TEXT    NOT NULL,
    package           TEXT    NOT NULL,
    installed_version TEXT    NOT NULL,
    fixed_version     TEXT    NOT NULL DEFAULT '',
    ecosystem         TEXT    NOT NULL DEFAULT '',
    purl              TEXT    NOT NULL DEFAULT '',
    location          TEXT    NOT NULL DEFAULT '',
    severity          TEXT    NOT NULL,
    severity_rank     INTEGER NOT NULL,
    cvss              REAL    NOT NULL DEFAULT 0,
    cvss_vector       TEXT    NOT NULL DEFAULT '',
    epss              REAL    NOT NULL DEFAULT 0,
    kev               INTEGER NOT NULL DEFAULT 0,
    title             TEXT    NOT NULL DEFAULT '',
    url               TEXT    NOT NULL DEFAULT '',
    aliases           TEXT    NOT NULL DEFAULT '[]',
    state             TEXT    NOT NULL,
    vex_state         TEXT    NOT NULL DEFAULT '',
    justification     TEXT    NOT NULL DEFAULT '',
    first_seen_at     INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,
    closed_at         INTEGER,
    closed_by_import  INTEGER,
    first_import_id   INTEGER NOT NULL,
    patch_id          INTEGER,
    content_hash      INTEGER NOT NULL,
    accepted_reason   TEXT    NOT NULL DEFAULT '',
    accepted_by       TEXT    NOT NULL DEFAULT '',
    accepted_at       INTEGER,
    accept_expires_at INTEGER,
    UNIQUE (asset_id, vuln_id, package, installed_version)
);
CREATE INDEX findings_state_severity ON findings (state, severity_rank);
CREATE INDEX findings_vuln ON findings (vuln_id);
CREATE INDEX findings_patch ON findings (patch_id) WHERE patch_id IS NOT NULL;

-- What patchctl knows about a vulnerability beyond one report: KEV and EPSS.
CREATE TABLE vulnerabilities (
    id              TEXT    PRIMARY KEY,
    kev             INTEGER NOT NULL DEFAULT 0,
    kev_added       TEXT    NOT NULL DEFAULT '',
    kev_due         TEXT    NOT NULL DEFAULT '',
    kev_ransomware  INTEGER NOT NULL DEFAULT 0,
    epss            REAL    NOT NULL DEFAULT 0,
    epss_percentile REAL    NOT NULL DEFAULT 0,
    epss_date       TEXT    NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL
);
CREATE INDEX vulnerabilities_kev ON vulnerabilities (kev) WHERE kev = 1;

CREATE TABLE vuln_aliases (
    alias     TEXT PRIMARY KEY,
    canonical TEXT NOT NULL
);

-- A patch created from findings is found again by its group key (asset
-- group, package, fixed version), so later imports extend it.
CREATE TABLE patch_groups (
    group_key TEXT    NOT NULL,
    patch_id  INTEGER NOT NULL REFERENCES patches (id),
    PRIMARY KEY (group_key, patch_id)
);
CREATE INDEX patch_groups_patch ON patch_groups (patch_id);
