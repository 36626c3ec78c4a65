-- plugins and their revisions (portable: TEXT ids, BIGINT epoch-ms times, JSON as TEXT)
CREATE TABLE plugins (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    stable_revision BIGINT,
    last_reason TEXT,
    last_install_at BIGINT,
    last_install_ms BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE plugin_revisions (
    plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
    revision BIGINT NOT NULL,
    install_id TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    phases TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (plugin_id, revision)
);
CREATE INDEX plugin_revisions_status ON plugin_revisions (status);
