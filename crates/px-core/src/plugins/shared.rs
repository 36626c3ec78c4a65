//! What an install does differently when several Cores share one PostgreSQL
//! database: each staged revision is packed into the artifact store, a
//! revision missing from this Core's disk is fetched from it, and every
//! finished install, rollback or uninstall is announced to the other Cores.
//! On SQLite none of this runs and revisions live only on local disk.

use std::path::{Path, PathBuf};

use anyhow::Context;
use px_api::ReasonCode;

use super::Manager;
use super::run::{Failure, FailureKind, OrInternal};
use crate::store::cluster::{ChangeAction, PluginChange};

/// Name of the file beside `revisions/<n>/` that records its digest, so a
/// directory left by an earlier install under the same number is not reused.
fn digest_marker(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_owned();
    name.push(".digest");
    dir.with_file_name(name)
}

impl Manager {
    /// Whether other Cores may share this Core's database.
    pub(crate) fn is_shared(&self) -> bool {
        self.cluster.is_some()
    }

    /// Tells the other Cores that `plugin_id` changed.
    pub(crate) async fn announce(&self, plugin_id: &str, action: ChangeAction) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        if plugin_id.is_empty() {
            return;
        }
        let change = PluginChange {
            plugin_id: plugin_id.to_owned(),
            origin: cluster.core_id.clone(),
            action,
        };
        if let Err(error) = self.store.notify_plugin_changed(&change).await {
            // the others still catch up at their next resync
            tracing::warn!(
                plugin = plugin_id,
                "cannot notify the other Cores: {error:#}"
            );
        }
    }

    /// Packs a staged revision into the artifact store, so the other Cores
    /// can start it. Refused when the packed revision exceeds the policy's
    /// `dev.max_bundle_bytes`.
    pub(crate) async fn publish_revision(
        &self,
        plugin_id: &str,
        revision: u64,
        dir: &Path,
    ) -> Result<(), Failure> {
        if !self.is_shared() {
            return Ok(());
        }
        let source = dir.to_owned();
        let packed = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            px_bundle::pack(&source, &mut bytes).map(|summary| (summary.digest, bytes))
        })
        .await
        .map_err(|e| Failure::internal(&anyhow::anyhow!("pack task failed: {e}")))?;
        let (digest, bytes) = packed.map_err(|e| {
            Failure::internal(&anyhow::Error::new(e).context("packing the revision"))
        })?;
        let max = self.config.policy.dev.max_bundle_bytes;
        if bytes.len() as u64 > max {
            return Err(Failure::new(
                FailureKind::TooLarge,
                ReasonCode::BundleInvalid,
                format!(
                    "the packed revision is {} bytes, more than the {max} bytes \
                     (dev.max_bundle_bytes) the other Cores may fetch",
                    bytes.len()
                ),
            ));
        }
        self.store
            .put_bundle(plugin_id, revision, &digest, &bytes)
            .await
            .or_internal()?;
        std::fs::write(digest_marker(dir), &digest)
            .map_err(|e| Failure::internal(&anyhow::anyhow!("recording the digest: {e}")))?;
        Ok(())
    }

    /// The directory of revision `revision` of `plugin_id`. On a shared
    /// database it is unpacked from the artifact store first when this Core
    /// does not have it, or has another revision under that number.
    pub(crate) async fn revision_on_disk(
        &self,
        plugin_id: &str,
        revision: u64,
        digest: &str,
    ) -> anyhow::Result<PathBuf> {
        let dir = self.paths.revision(plugin_id, revision);
        if !self.is_shared() {
            return Ok(dir);
        }
        let marker = std::fs::read_to_string(digest_marker(&dir)).unwrap_or_default();
        if dir.is_dir() && marker == digest {
            return Ok(dir);
        }
        let (stored, bytes) = self
            .store
            .bundle(plugin_id, revision)
            .await?
            .with_context(|| {
                format!("revision {revision} of {plugin_id} is not in the artifact store")
            })?;
        let staging = self
            .paths
            .staging(&format!("fetch-{}", uuid::Uuid::now_v7().simple()));
        let unpack_to = staging.clone();
        let summary = tokio::task::spawn_blocking(move || {
            let limits = px_bundle::Limits {
                max_total_bytes: u64::MAX,
                max_file_bytes: u64::MAX,
                max_ratio: u64::MAX,
                ..px_bundle::Limits::default()
            };
            std::fs::create_dir_all(&unpack_to)?;
            anyhow::Ok(px_bundle::unpack(
                &mut bytes.as_slice(),
                &unpack_to,
                &limits,
            )?)
        })
        .await??;
        if summary.digest != stored {
            let _ = std::fs::remove_dir_all(&staging);
            anyhow::bail!(
                "revision {revision} of {plugin_id} unpacked to digest {}, not {stored}",
                summary.digest
            );
        }
        std::fs::create_dir_all(self.paths.revisions(plugin_id))?;
        if dir.exists() {
            // another revision under this number (the plugin was reinstalled)
            let aside = self
                .paths
                .staging(&format!("old-{}", uuid::Uuid::now_v7().simple()));
            std::fs::rename(&dir, &aside)?;
            let _ = std::fs::remove_dir_all(aside);
        }
        std::fs::rename(&staging, &dir)?;
        std::fs::write(digest_marker(&dir), &stored)?;
        Ok(dir)
    }
}
