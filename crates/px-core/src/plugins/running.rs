//! A revision to run ([`Target`]) and a revision that runs ([`Running`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use px_manifest::Manifest;

use super::launch::Started;
use super::route::Backend;
use crate::gateway::GatewayKey;

/// A plugin as its processes see it: its id, `PX_PLUGIN_TOKEN` and gateway secret.
#[derive(Debug, Clone)]
pub(crate) struct Plugin {
    pub id: String,
    /// `PX_PLUGIN_TOKEN` for every process of this plugin in this Core run.
    pub token: String,
    /// Signs the identity tokens the proxy sends every revision of the
    /// plugin while its task lives (`POWERX_SECURITY_JWT_SECRET`).
    pub gateway: Arc<GatewayKey>,
}

/// A staged revision, ready to start.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub manifest: Arc<Manifest>,
    pub revision: u64,
    pub dir: PathBuf,
    pub digest: String,
}

/// A started revision: its processes (backend, admin; none for a static
/// plugin), started, probed, swapped and stopped together.
#[derive(Debug)]
pub(crate) struct Running {
    /// Unique per start within the plugin's task, to tell a crashed
    /// instance from its replacement.
    pub serial: u64,
    pub target: Target,
    pub processes: Vec<Started>,
    pub backend: Arc<Backend>,
}

impl Running {
    pub(crate) fn revision(&self) -> u64 {
        self.target.revision
    }

    pub(crate) fn manifest(&self) -> &Manifest {
        &self.target.manifest
    }

    /// Every process still runs.
    pub(crate) fn is_alive(&self) -> bool {
        self.processes
            .iter()
            .all(|p| p.process.exit_status().is_none())
    }

    pub(crate) fn admin_dir(&self) -> Option<PathBuf> {
        let dir = self.manifest().admin.as_ref()?.static_dir.as_ref()?;
        Some(self.target.dir.join(dir))
    }

    /// Retires the instance: new requests go elsewhere, in-flight ones
    /// finish (bounded by [`super::DRAIN_LIMIT`]), then the process is stopped.
    pub(crate) async fn drain_and_stop(&self) {
        self.backend.retire();
        let deadline = Instant::now() + super::DRAIN_LIMIT;
        while self.backend.inflight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.stop(super::STOP_GRACE).await;
    }

    /// Stops every process now (`SIGTERM`, then `SIGKILL` after `grace`).
    pub(crate) async fn stop(&self, grace: Duration) {
        self.backend.retire();
        stop_all(&self.processes, grace).await;
    }
}

/// Stops `processes` together.
pub(crate) async fn stop_all(processes: &[Started], grace: Duration) {
    let stops = processes.iter().map(|p| p.process.stop(grace));
    futures_util::future::join_all(stops).await;
}
