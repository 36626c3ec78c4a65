//! The plugin manager: the registry of installed plugins, the dev install
//! lifecycle (receive → validate → resolve → stage → migrate → start → health
//! → swap → probation) with blue/green swap and automatic rollback, uninstall,
//! supervision of stable revisions, and recovery at start.
//!
//! Each plugin has one task ([`task::PluginTask`]) that owns everything about
//! it and handles its installs, rollbacks, restarts, follows and uninstall
//! one message at a time; different plugins proceed in parallel. Every cause
//! of a revision going live takes the one path in [`live`]. The proxy reads a
//! plugin's route lock-free (`ArcSwap`); the API reads a published snapshot.
//!
//! When several Cores share one PostgreSQL database, an advisory lock per
//! plugin extends that serialization across Cores, revisions are kept in the
//! database's artifact store (`shared`), and every Core follows the others'
//! installs with its own processes (`follow`).

mod check;
mod env;
mod follow;
mod install;
mod launch;
mod live;
mod migrate;
mod paths;
mod receive;
mod recover;
mod resolved;
mod route;
mod run;
mod running;
mod shared;
mod supervise;
mod task;
mod views;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use px_api::PluginState;
use px_runtime::Spawner;

pub use receive::Source;
pub use route::{Backend, BackendGuard, RouteMiss};
pub use run::{FailureKind, InstallOutcome};

use crate::config::Config;
use crate::events::EventBus;
use crate::store::Store;
use paths::Paths;
use route::Route;
use running::Plugin;
use task::{Handle, Msg, PluginTask, Refusal};

/// How long a stopping process gets between `SIGTERM` and `SIGKILL`.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(3);
/// The same for a new revision that failed before it ever served traffic:
/// nothing to finish gracefully, and the report waits for the stop.
pub(crate) const FAILED_START_GRACE: Duration = Duration::from_millis(300);
/// Longest wait for an old backend's in-flight requests before it is stopped anyway.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// Revisions kept on disk besides the stable one.
pub(crate) const KEEP_RECENT: usize = 3;

/// What serves a plugin's Admin pages now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminPages {
    /// The current revision's admin process (it is serving).
    Process,
    /// The files of `admin.static_dir` (no admin process, or it is down).
    Dir(std::path::PathBuf),
    /// The plugin has no admin pages.
    None,
}

/// Installed plugins and everything that happens to them.
#[derive(Debug)]
pub struct Manager {
    config: Arc<Config>,
    store: Store,
    events: Arc<EventBus>,
    spawner: Spawner,
    client: crate::proxy::Client,
    paths: Paths,
    /// The registry: each installed plugin's handle to its task.
    handles: RwLock<HashMap<String, Arc<Handle>>>,
    /// Serializes task creation, so a plugin token is rotated once per task.
    creating: tokio::sync::Mutex<()>,
    /// Set once Core stops: no message reaches a task after that.
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
            handles: RwLock::new(HashMap::new()),
            creating: tokio::sync::Mutex::new(()),
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
        self.handle(id).ok_or(RouteMiss::Unknown)?.route.acquire()
    }

    /// What serves `/_p/{id}/admin/`; `None` = unknown plugin.
    pub fn admin_pages(&self, id: &str) -> Option<AdminPages> {
        let handle = self.handle(id)?;
        let serving = handle.route.serves_admin();
        let view = handle.view();
        let dir = view.current.as_ref().and_then(|r| r.admin_dir());
        Some(match (serving, dir) {
            (true, _) => AdminPages::Process,
            (false, Some(dir)) => AdminPages::Dir(dir),
            (false, None) => AdminPages::None,
        })
    }

    /// The pooled HTTP client the proxy uses.
    pub fn client(&self) -> &crate::proxy::Client {
        &self.client
    }

    /// Whether plugin `id` is installed.
    pub fn is_installed(&self, id: &str) -> bool {
        self.handle(id).is_some()
    }

    /// Stops every plugin process gracefully (Core is shutting down).
    pub async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        if let Some(cluster) = &self.cluster {
            cluster.stop();
        }
        let stops = self.handles().into_iter().map(|handle| async move {
            let (reply, stopped) = tokio::sync::oneshot::channel();
            if handle.send(Msg::Shutdown { reply }).is_ok() {
                let _ = stopped.await;
            }
        });
        futures_util::future::join_all(stops).await;
    }

    fn handle(&self, id: &str) -> Option<Arc<Handle>> {
        self.handles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Every plugin's handle, sorted by id.
    fn handles(&self) -> Vec<Arc<Handle>> {
        let handles = self
            .handles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<_> = handles.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// The handle of `id`, its task started (with a fresh plugin token) when missing.
    async fn handle_or_create(&self, id: &str, state: PluginState) -> anyhow::Result<Arc<Handle>> {
        let _one_at_a_time = self.creating.lock().await;
        if let Some(handle) = self.handle(id) {
            return Ok(handle);
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
        let plugin = Plugin {
            id: id.to_owned(),
            token,
            gateway: Arc::new(crate::gateway::GatewayKey::generate(id)),
        };
        let handle = PluginTask::spawn(self.arc(), plugin, state);
        self.handles
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned(), handle.clone());
        Ok(handle)
    }

    /// Forgets the handle of `id` if it is still the one with `route`.
    fn remove_handle(&self, id: &str, route: &Arc<Route>) {
        let mut handles = self
            .handles
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handles
            .get(id)
            .is_some_and(|h| Arc::ptr_eq(&h.route, route))
        {
            handles.remove(id);
        }
    }

    /// Hands `msg` to the task of `id` (started first when `create`), or
    /// answers it as refused. A task that ended meanwhile has left the
    /// registry, so the next attempt finds its successor or nothing.
    async fn deliver(&self, id: &str, mut msg: Msg, create: bool) {
        loop {
            if self.shutting_down.load(Ordering::SeqCst) {
                return msg.refuse(Refusal::ShuttingDown);
            }
            let handle = if create {
                match self.handle_or_create(id, PluginState::Starting).await {
                    Ok(handle) => handle,
                    Err(error) => return msg.refuse(Refusal::Internal(error)),
                }
            } else {
                match self.handle(id) {
                    Some(handle) => handle,
                    None => return msg.refuse(Refusal::Unknown),
                }
            };
            match handle.send(msg) {
                Ok(()) => return,
                Err(back) => {
                    self.remove_handle(id, &handle.route);
                    msg = *back;
                }
            }
        }
    }

    fn arc(&self) -> Arc<Manager> {
        self.me
            .upgrade()
            .expect("the manager is alive while its methods run")
    }
}
