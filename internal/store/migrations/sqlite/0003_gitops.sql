-- GitOps: the record of every verified webhook delivery (GitHub, Argo CD),
-- written in the transaction of its effects, and the indexes the GitOps
-- loop's lookups use. Timestamps are INTEGER microseconds since the Unix
-- epoch, UTC.

CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    action      TEXT    NOT NULL DEFAULT '',
    received_at INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    patch_keys  TEXT    NOT NULL DEFAULT '',
    repository  TEXT    NOT NULL DEFAULT '',
    summary     TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    UNIQUE (source, delivery_id)
);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, id);

-- Patches by the version they ship (CI runs, deployments and Argo CD syncs
-- name a commit), and merge evidence by version (a deployment repository's
-- merged pull request names the revision Argo CD deploys).
CREATE INDEX patches_version ON patches (version);
CREATE INDEX evidence_kind_version ON evidence (kind, version);

-- Rollback requests are picked from the outbox by topic and age.
CREATE INDEX outbox_topic_created ON outbox (topic, created_at);
