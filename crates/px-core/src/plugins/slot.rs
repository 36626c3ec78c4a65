//! One plugin slot: the route the proxy follows, the running instance, and
//! the lock that serializes installs, rollbacks, restarts and uninstall.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwapOption;
use px_api::PluginState;
use px_manifest::Manifest;
use px_runtime::Process;

/// Where the proxy sends a plugin's traffic: one running revision.
#[derive(Debug)]
pub struct Backend {
    /// Plugin id.
    pub plugin_id: String,
    /// Revision behind this backend.
    pub revision: u64,
    /// Port on 127.0.0.1; `None` for a static plugin.
    pub port: Option<u16>,
    /// The plugin's `http_base_path`.
    pub base_path: String,
    inflight: AtomicUsize,
    retired: AtomicBool,
}

impl Backend {
    pub(crate) fn new(plugin_id: &str, revision: u64, port: Option<u16>, base_path: &str) -> Self {
        Backend {
            plugin_id: plugin_id.to_owned(),
            revision,
            port,
            base_path: base_path.to_owned(),
            inflight: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
        }
    }

    /// Requests being served by this backend now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// Marks the backend as leaving; new requests go elsewhere. Paired with
    /// [`Slot::acquire`]: both sides use `SeqCst`, so either the request sees
    /// `retired` or the drainer sees its in-flight count.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }
}

/// Counts one request in flight on a backend until dropped.
#[derive(Debug)]
pub struct BackendGuard {
    backend: Arc<Backend>,
}

impl BackendGuard {
    /// The backend the request goes to.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }
}

impl Drop for BackendGuard {
    fn drop(&mut self) {
        self.backend.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A started revision (process or static).
#[derive(Debug)]
pub(crate) struct Running {
    /// Unique per start, to tell a crashed instance from its replacement.
    pub serial: u64,
    pub revision: u64,
    pub manifest: Arc<Manifest>,
    pub digest: String,
    pub dir: PathBuf,
    pub process: Option<Process>,
    pub backend: Arc<Backend>,
    /// Set before a deliberate stop, so the supervisor does not restart it.
    pub stopping: AtomicBool,
}

impl Running {
    pub(crate) fn is_alive(&self) -> bool {
        self.process
            .as_ref()
            .is_none_or(|p| p.exit_status().is_none())
    }

    pub(crate) fn admin_dir(&self) -> Option<PathBuf> {
        let dir = self.manifest.admin.as_ref()?.static_dir.as_ref()?;
        Some(self.dir.join(dir))
    }
}

/// What a slot is doing, guarded by a short std mutex.
#[derive(Debug)]
pub(crate) struct Live {
    /// The instance the route points to (or pointed to before it crashed).
    pub current: Option<Arc<Running>>,
    pub state: PluginState,
    pub restarts: u32,
    /// When the stable revision last crashed or failed liveness, newest last;
    /// only those within the liveness window are kept. Sets the restart
    /// backoff and the `crash_loop` limit; cleared when an install or rollback goes live.
    pub crashes: std::collections::VecDeque<std::time::Instant>,
    /// Set by uninstall; a waiter holding this slot must look it up again.
    pub removed: bool,
}

/// One plugin.
#[derive(Debug)]
pub(crate) struct Slot {
    pub id: String,
    /// `PX_PLUGIN_TOKEN` for every process of this plugin in this Core run.
    pub token: String,
    /// Serializes installs, rollbacks, restarts and uninstall of this plugin.
    pub ops: Arc<tokio::sync::Mutex<()>>,
    pub route: ArcSwapOption<Backend>,
    live: Mutex<Live>,
}

/// Why a request cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMiss {
    /// No such plugin.
    Unknown,
    /// Installed, but no revision is serving (failed, restarting, or static).
    NoBackend,
}

impl Live {
    /// Records a crash now and returns how many fell within `window`.
    pub(crate) fn note_crash(&mut self, window: std::time::Duration) -> u32 {
        let now = std::time::Instant::now();
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.crashes.pop_front();
        }
        self.crashes.push_back(now);
        u32::try_from(self.crashes.len()).unwrap_or(u32::MAX)
    }

    /// A fresh revision went live: restarts and crashes start over.
    pub(crate) fn went_live(&mut self) {
        self.state = PluginState::Active;
        self.restarts = 0;
        self.crashes.clear();
    }
}

impl Slot {
    pub(crate) fn new(id: &str, token: String, state: PluginState) -> Self {
        Slot {
            id: id.to_owned(),
            token,
            ops: Arc::new(tokio::sync::Mutex::new(())),
            route: ArcSwapOption::empty(),
            live: Mutex::new(Live {
                current: None,
                state,
                restarts: 0,
                crashes: std::collections::VecDeque::new(),
                removed: false,
            }),
        }
    }

    pub(crate) fn live(&self) -> MutexGuard<'_, Live> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn current(&self) -> Option<Arc<Running>> {
        self.live().current.clone()
    }

    pub(crate) fn set_state(&self, state: PluginState) {
        self.live().state = state;
    }

    /// Points traffic at `running` (or nowhere) and makes it current.
    pub(crate) fn point_to(&self, running: Option<Arc<Running>>) {
        self.route
            .store(running.as_ref().map(|r| r.backend.clone()));
        self.live().current = running;
    }

    /// Takes a guard on the backend traffic goes to now.
    pub(crate) fn acquire(&self) -> Result<BackendGuard, RouteMiss> {
        for _ in 0..64 {
            let backend = self.route.load_full().ok_or(RouteMiss::NoBackend)?;
            backend.inflight.fetch_add(1, Ordering::SeqCst);
            let guard = BackendGuard { backend };
            if !guard.backend.retired.load(Ordering::SeqCst) {
                return Ok(guard);
            }
            // retired between load and increment: the route has moved on
        }
        Err(RouteMiss::NoBackend)
    }
}

impl Slot {
    /// Locks the slot for one operation; `None` when it was uninstalled meanwhile.
    pub(crate) async fn lock(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let guard = self.ops.clone().lock_owned().await;
        (!self.live().removed).then_some(guard)
    }

    /// Makes `running` current without routing to it (it is dead and being restarted).
    pub(crate) fn set_current_unrouted(&self, running: Option<Arc<Running>>) {
        self.route.store(None);
        self.live().current = running;
    }
}
