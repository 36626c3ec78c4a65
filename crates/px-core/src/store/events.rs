//! The `plugin.dev.logs` stream kept on disk (SPEC §3.6): lifecycle events
//! and plugin log lines, written in batches by [`crate::event_log`], read
//! back by `GET /api/plugins/{id}/logs`, pruned by age and bounded in size
//! per plugin.

use px_api::{LOGS_CHANNEL, Level, LifecycleEvent, LogMessage, MessageKind, MessageStream};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;

/// Columns of one row, in insert order.
const COLUMNS: &str = "core_id, seq, ts, plugin_id, revision, install_id, kind, stream, level, message, phase, data, bytes, process";
/// Columns bound per row.
const PER_ROW: usize = 14;
/// Rows per INSERT statement (SQLite allows 32,766 parameters).
const ROWS_PER_STATEMENT: usize = 500;

/// What [`Store::events`] returns.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// The plugin.
    pub plugin_id: String,
    /// Only messages at or after (epoch ms).
    pub since: Option<i64>,
    /// Only messages before (epoch ms).
    pub until: Option<i64>,
    /// Only messages of this install.
    pub install_id: Option<String>,
    /// Only messages with a greater `seq`.
    pub after_seq: Option<u64>,
    /// Leave out rows that this Core wrote with a `seq` above this (the
    /// caller has them in memory): `(core_id, seq)`.
    pub skip_newer_of: Option<(String, u64)>,
    /// At most this many of the newest matching messages.
    pub limit: usize,
}

impl Store {
    /// Appends messages that Core `core_id` published, in one transaction.
    pub async fn events_insert(
        &self,
        core_id: &str,
        messages: &[LogMessage],
    ) -> anyhow::Result<()> {
        let mut tx = self.pool().begin().await?;
        for chunk in messages.chunks(ROWS_PER_STATEMENT) {
            let values = (0..chunk.len())
                .map(|row| {
                    let first = row * PER_ROW + 1;
                    let params: Vec<String> =
                        (first..first + PER_ROW).map(|n| format!("${n}")).collect();
                    format!("({})", params.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("INSERT INTO plugin_events ({COLUMNS}) VALUES {values}");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                let data = serde_json::to_string(&m.data)?;
                let bytes = (m.message.len() + data.len() + m.plugin_id.len() + 64) as i64;
                query = query
                    .bind(core_id.to_owned())
                    .bind(m.seq as i64)
                    .bind(m.ts)
                    .bind(m.plugin_id.clone())
                    .bind(m.revision.map(|r| r as i64))
                    .bind(m.install_id.clone())
                    .bind(kind_name(m.kind))
                    .bind(stream_name(m.stream))
                    .bind(m.level.as_str())
                    .bind(m.message.clone())
                    .bind(m.phase.map(|p| p.as_str()))
                    .bind(data)
                    .bind(bytes)
                    .bind(m.process.map(|p| p.as_str()));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `query.limit` matching messages, oldest first.
    pub async fn events(&self, query: &EventQuery) -> anyhow::Result<Vec<LogMessage>> {
        let (skip_core, skip_after) = query
            .skip_newer_of
            .clone()
            .map_or((String::new(), i64::MAX), |(core, seq)| (core, seq as i64));
        let rows = sqlx::query(
            "SELECT seq, ts, plugin_id, revision, install_id, kind, stream, level, message, phase, data, process \
             FROM plugin_events WHERE plugin_id = $1 AND ts >= $2 AND ts < $3 \
             AND (CAST($4 AS TEXT) IS NULL OR install_id = $4) AND seq > $5 \
             AND NOT (core_id = $6 AND seq > $7) \
             ORDER BY ts DESC, id DESC LIMIT $8",
        )
        .bind(&query.plugin_id)
        .bind(query.since.unwrap_or(i64::MIN))
        .bind(query.until.unwrap_or(i64::MAX))
        .bind(&query.install_id)
        .bind(query.after_seq.map_or(-1, |s| s as i64))
        .bind(skip_core)
        .bind(skip_after)
        .bind(query.limit as i64)
        .fetch_all(self.pool())
        .await?;
        let mut messages = rows
            .iter()
            .map(message)
            .collect::<anyhow::Result<Vec<_>>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// Whether anything of plugin `plugin_id` is kept.
    pub async fn events_exist(&self, plugin_id: &str) -> anyhow::Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM plugin_events WHERE plugin_id = $1 LIMIT 1")
            .bind(plugin_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// The highest `seq` kept (0 when none), so a restarted Core continues after it.
    pub async fn events_max_seq(&self) -> anyhow::Result<u64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM plugin_events")
            .fetch_one(self.pool())
            .await?;
        let seq: i64 = row.try_get("seq")?;
        Ok(u64::try_from(seq).unwrap_or(0))
    }

    /// Keeps only the newest rows of one plugin: at most `max_rows` rows
    /// and `max_bytes` bytes. Returns how many rows were deleted.
    pub async fn events_trim(
        &self,
        plugin_id: &str,
        max_rows: u64,
        max_bytes: u64,
    ) -> anyhow::Result<u64> {
        let newest_over = sqlx::query(
            "SELECT id FROM (SELECT id, ROW_NUMBER() OVER w AS n, SUM(bytes) OVER w AS total \
             FROM plugin_events WHERE plugin_id = $1 WINDOW w AS (ORDER BY id DESC)) AS ranked \
             WHERE n > CAST($2 AS BIGINT) OR total > CAST($3 AS BIGINT) ORDER BY id DESC LIMIT 1",
        )
        .bind(plugin_id)
        .bind(i64::try_from(max_rows).unwrap_or(i64::MAX))
        .bind(i64::try_from(max_bytes).unwrap_or(i64::MAX))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = newest_over else {
            return Ok(0);
        };
        let id: i64 = row.try_get("id")?;
        let done = sqlx::query("DELETE FROM plugin_events WHERE plugin_id = $1 AND id <= $2")
            .bind(plugin_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes messages older than `before` (epoch ms); returns how many.
    pub async fn events_prune(&self, before: i64) -> anyhow::Result<u64> {
        let done = sqlx::query("DELETE FROM plugin_events WHERE ts < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

fn message(row: &AnyRow) -> anyhow::Result<LogMessage> {
    let data: String = row.try_get("data")?;
    let revision: Option<i64> = row.try_get("revision")?;
    let seq: i64 = row.try_get("seq")?;
    Ok(LogMessage {
        channel: LOGS_CHANNEL.to_owned(),
        seq: u64::try_from(seq).unwrap_or(0),
        ts: row.try_get("ts")?,
        plugin_id: row.try_get("plugin_id")?,
        revision: revision.and_then(|r| u64::try_from(r).ok()),
        install_id: row.try_get("install_id")?,
        kind: match row.try_get::<String, _>("kind")?.as_str() {
            "event" => MessageKind::Event,
            _ => MessageKind::Log,
        },
        stream: match row.try_get::<String, _>("stream")?.as_str() {
            "stdout" => MessageStream::Stdout,
            "stderr" => MessageStream::Stderr,
            _ => MessageStream::Core,
        },
        level: row
            .try_get::<String, _>("level")?
            .parse()
            .unwrap_or(Level::Info),
        message: row.try_get("message")?,
        phase: row
            .try_get::<Option<String>, _>("phase")?
            .and_then(|p| serde_json::from_value(serde_json::Value::String(p)).ok()),
        // a row a newer Core wrote, with fields this one does not know
        data: serde_json::from_str(&data).unwrap_or(Some(LifecycleEvent::Unknown)),
        process: row
            .try_get::<Option<String>, _>("process")?
            .and_then(|p| p.parse().ok()),
    })
}

fn kind_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Log => "log",
        MessageKind::Event => "event",
    }
}

fn stream_name(stream: MessageStream) -> &'static str {
    match stream {
        MessageStream::Stdout => "stdout",
        MessageStream::Stderr => "stderr",
        MessageStream::Core => "core",
    }
}
