//! A tiny forward-only migrator: numbered SQL files embedded per backend,
//! applied once each, recorded in `schema_migrations`. On PostgreSQL an
//! advisory lock makes Cores that start together take turns.

use anyhow::Context;
use sqlx::AnyConnection;

use super::{Backend, Store, now_ms};

/// (version, sql) for SQLite.
const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_plugins.sql")),
    (3, include_str!("../../migrations/sqlite/0003_sessions.sql")),
    (
        4,
        include_str!("../../migrations/sqlite/0004_artifacts.sql"),
    ),
    (5, include_str!("../../migrations/sqlite/0005_events.sql")),
    (
        6,
        include_str!("../../migrations/sqlite/0006_event_process.sql"),
    ),
    (
        7,
        include_str!("../../migrations/sqlite/0007_resolved_revision.sql"),
    ),
];

/// (version, sql) for PostgreSQL.
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_plugins.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_sessions.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_artifacts.sql"),
    ),
    (5, include_str!("../../migrations/postgres/0005_events.sql")),
    (
        6,
        include_str!("../../migrations/postgres/0006_event_process.sql"),
    ),
    (
        7,
        include_str!("../../migrations/postgres/0007_resolved_revision.sql"),
    ),
];

/// Advisory lock key of the migrator ("pxmigrat").
const MIGRATION_LOCK: i64 = 0x7078_6d69_6772_6174;

pub(super) async fn run(store: &Store) -> anyhow::Result<()> {
    let mut conn = store.pool().acquire().await?;
    let postgres = store.backend() == Backend::Postgres;
    if postgres {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_lock($1)) AS locked")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .context("waiting for another Core's migrations")?;
    }
    let result = apply(&mut conn, store.backend()).await;
    if postgres {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_unlock($1)) AS unlocked")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(conn: &mut AnyConnection, backend: Backend) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let migrations = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    for (version, sql) in migrations {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let done: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("migration {version}"))?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}
