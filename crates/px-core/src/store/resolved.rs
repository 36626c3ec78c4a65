//! The resolved revision of each staged revision: what Core runs, as JSON,
//! written once at stage and read back on rollback, follow and recovery.

use sqlx::Row;

use super::Store;
use super::plugins::to_i64;

impl Store {
    /// Records what revision `revision` of `plugin_id` runs.
    pub async fn set_resolved(
        &self,
        plugin_id: &str,
        revision: u64,
        resolved: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE plugin_revisions SET resolved = $3 WHERE plugin_id = $1 AND revision = $2",
        )
        .bind(plugin_id)
        .bind(to_i64(revision))
        .bind(resolved)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// What revision `revision` of `plugin_id` runs; `None` when the revision
    /// is unknown or was staged before resolved revisions were kept.
    pub async fn resolved(&self, plugin_id: &str, revision: u64) -> anyhow::Result<Option<String>> {
        let row = sqlx::query(
            "SELECT resolved FROM plugin_revisions WHERE plugin_id = $1 AND revision = $2",
        )
        .bind(plugin_id)
        .bind(to_i64(revision))
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<String>, _>("resolved")?,
            None => None,
        })
    }
}
