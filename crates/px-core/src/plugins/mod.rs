//! The plugin manager: the registry of installed plugins, the dev install
//! lifecycle (receive → validate → resolve → stage → migrate → start → health
//! → swap → probation) with blue/green swap and automatic rollback, uninstall,
//! supervision of stable revisions, and recovery at start.
//!
//! Each plugin has a [`slot::Slot`] whose async mutex serializes that plugin's
//! installs, rollbacks, restarts and uninstall; different plugins proceed in
//! parallel. The proxy reads a slot's route lock-free (`ArcSwap`).
//!
//! When several Cores share one PostgreSQL database, an advisory lock per
//! plugin extends that serialization across Cores, revisions are kept in the
//! database's artifact store (`shared`), and every Core follows the others'
//! installs with its own processes (`follow`).

mod check;
mod follow;
mod install;
mod launch;
mod migrate;
mod paths;
mod receive;
mod recover;
mod run;
mod shared;
mod slot;
mod supervise;
mod views;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use px_api::PluginState;
use px_runtime::Spawner;

pub use receive::Source;
pub use run::{FailureKind, InstallOutcome};
pub use slot::{Backend, BackendGuard, RouteMiss};

use crate::config::Config;
use crate::events::EventBus;
use crate::store::Store;
use paths::Paths;
use slot::Slot;

/// How long a stopping process gets between `SIGTERM` and `SIGKILL`.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(3);
/// The same for a new revision that failed before it ever served traffic:
/// nothing to finish gracefully, and the report waits for the stop.
pub(crate) const FAILED_START_GRACE: Duration = Duration::from_millis(300);
/// Longest wait for an old backend's in-flight requests before it is stopped anyway.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// Revisions kept on disk besides the stable one.
pub(crate) const KEEP_RECENT: usize = 3;

/// Installed plugins and everything that happens to them.
#[derive(Debug)]
pub struct Manager {
    config: Arc<Config>,
    store: Store,
    events: Arc<EventBus>,
    spawner: Spawner,
    client: crate::proxy::Client,
    paths: Paths,
    slots: RwLock<HashMap<String, Arc<Slot>>>,
    /// Serializes slot creation, so a plugin token is rotated once per slot.
    creating: tokio::sync::Mutex<()>,
    serial: AtomicU64,
    shutting_down: AtomicBool,
    me: Weak<Manager>,
    /// Set when several Cores may share the database (PostgreSQL).
    cluster: Option<follow::Membership>,
}

impl Manager {
    /// A manager over `config.data_dir`; call [`Manager::recover`] next.
    /// Makes this process a child subreaper and starts the orphan reaper.
    pub async fn new(config: Arc<Config>, store: Store) -> anyhow::Result<Arc<Manager>> {
        if let Err(error) = px_runtime::become_subreaper() {
            tracing::warn!(%error, "plugin grandchildren will not be reaped by Core");
        }
        px_runtime::spawn_orphan_reaper();
        let paths = Paths::new(&config.data_dir);
        let cluster = store
            .is_shared()
            .then(|| follow::Membership::new(&config.data_dir))
            .transpose()?;
        Ok(Arc::new_cyclic(|me| Manager {
            config,
            store,
            events: Arc::new(EventBus::new()),
            spawner: Spawner::new(),
            client: crate::proxy::client(),
            paths,
            slots: RwLock::new(HashMap::new()),
            creating: tokio::sync::Mutex::new(()),
            serial: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            me: me.clone(),
            cluster,
        }))
    }

    /// The `plugin.dev.logs` bus.
    pub fn events(&self) -> &Arc<EventBus> {
        &self.events
    }

    /// Takes a guard on the backend of plugin `id` for one proxied request.
    pub fn acquire(&self, id: &str) -> Result<BackendGuard, RouteMiss> {
        self.slot(id).ok_or(RouteMiss::Unknown)?.acquire()
    }

    /// The directory served at `/_p/{id}/admin/`: the current revision's
    /// `admin.static_dir`. Outer `None` = unknown plugin.
    pub fn admin_dir(&self, id: &str) -> Option<Option<std::path::PathBuf>> {
        let slot = self.slot(id)?;
        Some(slot.current().and_then(|r| r.admin_dir()))
    }

    /// The pooled HTTP client the proxy uses.
    pub fn client(&self) -> &crate::proxy::Client {
        &self.client
    }

    /// Whether plugin `id` is installed.
    pub fn is_installed(&self, id: &str) -> bool {
        self.slot(id).is_some()
    }

    /// Stops every plugin process gracefully (Core is shutting down).
    pub async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        if let Some(cluster) = &self.cluster {
            cluster.stop();
        }
        let slots: Vec<Arc<Slot>> = self.all_slots();
        let stops = slots.into_iter().map(|slot| async move {
            let running = slot.current();
            slot.point_to(None);
            slot.set_state(PluginState::Stopped);
            if let Some(running) = running {
                running.stopping.store(true, Ordering::SeqCst);
                if let Some(process) = &running.process {
                    process.stop(STOP_GRACE).await;
                }
            }
        });
        futures_util::future::join_all(stops).await;
    }

    fn slot(&self, id: &str) -> Option<Arc<Slot>> {
        self.slots
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn all_slots(&self) -> Vec<Arc<Slot>> {
        let slots = self
            .slots
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<_> = slots.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// The slot of `id`, created (with a fresh plugin token) when missing.
    async fn slot_or_create(&self, id: &str, state: PluginState) -> anyhow::Result<Arc<Slot>> {
        let _one_at_a_time = self.creating.lock().await;
        if let Some(slot) = self.slot(id) {
            return Ok(slot);
        }
        let token = match &self.cluster {
            // other Cores' processes of this plugin keep their own tokens
            Some(cluster) => {
                self.store
                    .rotate_core_plugin_token(id, &cluster.core_id)
                    .await?
            }
            None => self.store.rotate_plugin_token(id).await?,
        };
        let mut slots = self
            .slots
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(slots
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(Slot::new(id, token, state)))
            .clone())
    }

    fn remove_slot(&self, slot: &Arc<Slot>) {
        let mut slots = self
            .slots
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slots.get(&slot.id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(&slot.id);
        }
    }

    fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    fn arc(&self) -> Arc<Manager> {
        self.me
            .upgrade()
            .expect("the manager is alive while its methods run")
    }
}
