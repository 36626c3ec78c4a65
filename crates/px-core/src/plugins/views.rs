//! Read views: the plugin list, one plugin's detail, its recent logs.

use px_api::{PluginDetail, PluginList, PluginState, PluginSummary};

use super::Manager;
use crate::store::plugins::{PluginRow, RevisionRow};

impl Manager {
    /// Installed plugins, sorted by id.
    pub async fn list(&self) -> anyhow::Result<PluginList> {
        let mut plugins = Vec::new();
        for row in self.store.plugins().await? {
            let revisions = self.store.revisions(&row.id).await?;
            plugins.push(self.summary(row, &revisions));
        }
        Ok(PluginList { plugins })
    }

    /// One plugin with its revisions; `None` when not installed.
    pub async fn detail(&self, id: &str) -> anyhow::Result<Option<PluginDetail>> {
        let Some(row) = self.store.plugin(id).await? else {
            return Ok(None);
        };
        let revisions = self.store.revisions(id).await?;
        let current = self.handle(id).and_then(|h| h.view().current.clone());
        let manifest = current
            .as_ref()
            .and_then(|r| serde_json::to_value(r.manifest()).ok())
            .unwrap_or(serde_json::Value::Null);
        let description = current
            .as_ref()
            .and_then(|r| r.manifest().description.clone());
        Ok(Some(PluginDetail {
            summary: self.summary(row, &revisions),
            description,
            manifest,
            revisions: revisions.iter().filter_map(RevisionRow::info).collect(),
        }))
    }

    fn summary(&self, row: PluginRow, revisions: &[RevisionRow]) -> PluginSummary {
        let (state, restarts, current) = match self.handle(&row.id) {
            Some(handle) => {
                let view = handle.view();
                (view.state, view.restarts, view.current.clone())
            }
            None => (PluginState::Failed, 0, None),
        };
        let shown = current
            .as_ref()
            .map(|r| r.revision())
            .or(row.stable_revision);
        let shown_row = revisions
            .iter()
            .find(|r| Some(r.revision) == shown)
            .or(revisions.first());
        PluginSummary {
            id: row.id,
            name: row.name,
            version: current
                .as_ref()
                .map(|r| r.manifest().version.clone())
                .or_else(|| shown_row.map(|r| r.version.clone()))
                .unwrap_or_default(),
            revision: current.as_ref().map(|r| r.revision()),
            stable_revision: row.stable_revision,
            state,
            kind: row.kind.as_str().to_owned(),
            digest: current
                .as_ref()
                .map(|r| r.target.digest.clone())
                .or_else(|| shown_row.map(|r| r.digest.clone())),
            last_install_at: row.last_install_at,
            last_install_ms: row.last_install_ms,
            last_reason: row.last_reason,
            restarts,
        }
    }
}
