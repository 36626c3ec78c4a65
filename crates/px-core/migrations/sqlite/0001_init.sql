-- users, tokens, audit (portable: TEXT ids, INTEGER epoch-ms times, JSON as TEXT)
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    plugin_id TEXT,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE audit (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    plugin_id TEXT,
    version TEXT,
    revision BIGINT,
    install_id TEXT,
    result TEXT NOT NULL,
    reason TEXT,
    remote_addr TEXT
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_plugin ON audit (plugin_id, at);
