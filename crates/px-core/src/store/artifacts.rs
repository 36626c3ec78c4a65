//! The artifact store: each revision's files packed as a `.pxp`, kept in the
//! database so that every Core sharing it can unpack and start any revision.
//! Rows go with their revision (`ON DELETE CASCADE`).

use sqlx::Row;

use super::{Store, now_ms};

impl Store {
    /// Keeps the packed bundle of a revision (replacing one stored before).
    pub async fn put_bundle(
        &self,
        plugin_id: &str,
        revision: u64,
        digest: &str,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO revision_bundles (plugin_id, revision, digest, bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (plugin_id, revision) \
             DO UPDATE SET digest = $3, bytes = $4, created_at = $5",
        )
        .bind(plugin_id)
        .bind(i64::try_from(revision)?)
        .bind(digest)
        .bind(bytes)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The packed bundle of a revision and its digest, if stored.
    pub async fn bundle(
        &self,
        plugin_id: &str,
        revision: u64,
    ) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT digest, bytes FROM revision_bundles WHERE plugin_id = $1 AND revision = $2",
        )
        .bind(plugin_id)
        .bind(i64::try_from(revision)?)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => Some((row.try_get("digest")?, row.try_get("bytes")?)),
            None => None,
        })
    }
}
