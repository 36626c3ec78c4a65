//! Where the proxy sends a plugin's traffic, read lock-free on every request
//! and written only by the plugin's task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arc_swap::ArcSwapOption;

use crate::gateway::GatewayKey;

/// One running revision as the proxy sees it.
#[derive(Debug)]
pub struct Backend {
    /// Plugin id.
    pub plugin_id: String,
    /// Revision behind this backend.
    pub revision: u64,
    /// Port of the backend on 127.0.0.1; `None` for a static plugin.
    pub port: Option<u16>,
    /// Port of the admin process, when the revision has one.
    pub admin_port: Option<u16>,
    /// The plugin's `http_base_path`.
    pub base_path: String,
    /// Signs the identity token of each request (the plugin's secret).
    pub gateway: Arc<GatewayKey>,
    inflight: AtomicUsize,
    retired: AtomicBool,
    /// A process of the revision exited; its task will replace or stop it.
    down: AtomicBool,
}

impl Backend {
    pub(crate) fn new(
        plugin_id: &str,
        revision: u64,
        ports: (Option<u16>, Option<u16>),
        base_path: &str,
        gateway: Arc<GatewayKey>,
    ) -> Self {
        Backend {
            plugin_id: plugin_id.to_owned(),
            revision,
            port: ports.0,
            admin_port: ports.1,
            base_path: base_path.to_owned(),
            gateway,
            inflight: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
            down: AtomicBool::new(false),
        }
    }

    /// Requests being served by this backend now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// Marks the backend as leaving; new requests go elsewhere. Paired with
    /// [`Route::acquire`]: both sides use `SeqCst`, so either the request sees
    /// `retired` or the drainer sees its in-flight count.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }

    /// Marks the backend as unable to answer (a process exited): requests
    /// get "no running revision" at once instead of a refused connection,
    /// also while the plugin's task is still busy with an install.
    pub(crate) fn mark_down(&self) {
        self.down.store(true, Ordering::SeqCst);
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
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

/// Why a request cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMiss {
    /// No such plugin.
    Unknown,
    /// Installed, but no revision is serving (failed, restarting, or static).
    NoBackend,
}

/// The backend a plugin's traffic goes to now, if any.
#[derive(Debug, Default)]
pub(crate) struct Route(ArcSwapOption<Backend>);

impl Route {
    /// Sends new requests to `backend` (or nowhere).
    pub(crate) fn point(&self, backend: Option<Arc<Backend>>) {
        self.0.store(backend);
    }

    /// Whether traffic goes to a revision with an admin process now.
    pub(crate) fn serves_admin(&self) -> bool {
        self.0
            .load()
            .as_ref()
            .is_some_and(|b| b.admin_port.is_some())
    }

    /// Takes a guard on the backend traffic goes to now.
    pub(crate) fn acquire(&self) -> Result<BackendGuard, RouteMiss> {
        for _ in 0..64 {
            let backend = self.0.load_full().ok_or(RouteMiss::NoBackend)?;
            if backend.is_down() {
                return Err(RouteMiss::NoBackend);
            }
            backend.inflight.fetch_add(1, Ordering::SeqCst);
            let guard = BackendGuard { backend };
            if !guard.backend.is_retired() {
                return Ok(guard);
            }
            // retired between load and increment: the route has moved on
        }
        Err(RouteMiss::NoBackend)
    }
}
