-- Every revision's files as a packed .pxp, so every Core sharing the database
-- can start any revision.
CREATE TABLE revision_bundles (
    plugin_id TEXT NOT NULL,
    revision BIGINT NOT NULL,
    digest TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (plugin_id, revision),
    FOREIGN KEY (plugin_id, revision) REFERENCES plugin_revisions (plugin_id, revision) ON DELETE CASCADE
);
