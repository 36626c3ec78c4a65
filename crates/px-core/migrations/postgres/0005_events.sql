-- The plugin.dev.logs stream kept on disk (SPEC §3.6): lifecycle events and
-- plugin log lines, pruned after audit.retention_days and bounded per plugin.
-- `id` orders rows as written; `seq` is the Core's own sequence number and
-- `core_id` names the Core process that wrote the row.
CREATE TABLE plugin_events (
    id BIGSERIAL PRIMARY KEY,
    core_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    plugin_id TEXT NOT NULL,
    revision BIGINT,
    install_id TEXT,
    kind TEXT NOT NULL,
    stream TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    phase TEXT,
    data TEXT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE INDEX plugin_events_plugin ON plugin_events (plugin_id, id);
CREATE INDEX plugin_events_ts ON plugin_events (ts);
CREATE INDEX plugin_events_install ON plugin_events (install_id);
