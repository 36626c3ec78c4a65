//! The only crate that spawns processes. It starts a plugin's entry in its
//! revision directory with exactly the environment it is given, in its own
//! process group, dying with Core; captures stdout/stderr line by line without
//! ever blocking the plugin; polls health; stops gracefully; and makes Core a
//! child subreaper that reaps orphaned plugin descendants.
//!
//! No descendant of a spawned process outlives it, not even one that calls
//! `setsid` (and so leaves its process group and session):
//!
//! - **a cgroup per process** where Core may create one (cgroup v2, else the v1
//!   `freezer` hierarchy): the child joins it before exec; when the process
//!   exits or is stopped, the whole cgroup is killed (`cgroup.kill`, or frozen
//!   and `SIGKILL`ed member by member until empty) and removed;
//! - **otherwise** (no writable cgroup, `PX_RUNTIME_NO_CGROUP=1`, or
//!   [`Spawner::without_cgroups`]) an environment marker `PX_RUNTIME_TREE`
//!   inherited by descendants plus the `/proc` parent tree below the process
//!   (Core being subreaper keeps that tree attached to it), rescanned while it
//!   runs and killed until nothing is found;
//! - if Core exits without stopping a process, an exit handler ends it; if
//!   Core is `SIGKILL`ed, `PR_SET_PDEATHSIG` kills the process itself and the
//!   next Core ends the rest from the [`Leftover`] recorded at start (cgroup,
//!   process group, marker; start times guard against pid reuse).
//!
//! It knows nothing about manifests, installs, HTTP routes or the store: Core
//! decides *what* to run and *when*; this crate only runs it.
//!
//! Typical use by Core:
//!
//! 1. at start: [`become_subreaper`], [`spawn_orphan_reaper`], one [`Spawner::new`];
//! 2. per plugin start: [`pick_port`], [`Spawner::spawn`], [`wait_healthy`];
//! 3. while it runs: [`Process::exited`], [`probe_health`];
//! 4. to stop it: [`Process::stop`];
//! 5. after a crash of Core: [`Process::leftover`] recorded at start,
//!    [`Leftover::parse`] and [`Leftover::kill`] at the next start.
//!
//! All of this is Linux-only (`prctl`, `/proc`, cgroups).

mod cgroup;
mod contain;
mod health;
mod leftover;
mod logs;
mod process;
mod procfs;
mod reaper;
mod spawn;
mod tree;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

pub use health::{DEFAULT_PROBE_TIMEOUT, pick_port, probe_health, wait_healthy};
pub use leftover::{Leftover, kill_leftover_group, start_time};
pub use logs::{MAX_LINE_BYTES, bounded_sink};
pub use process::Process;
pub use reaper::{become_subreaper, spawn_orphan_reaper};
pub use spawn::Spawner;

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives each captured line (without its line ending). Must not block: it
/// is called from a task on Core's runtime, for each process in output order
/// per stream. Up to 8 MiB of lines per process wait between the pipes and
/// the sink; beyond that, lines are dropped (counted by
/// [`Process::dropped_lines`]) rather than the plugin blocked. [`bounded_sink`]
/// is a ready-made sink.
pub type LogSink = Arc<dyn Fn(Stream, String) + Send + Sync>;

/// What to start.
#[derive(Clone)]
pub struct SpawnSpec {
    /// Program: a path (relative to `cwd`) or a command looked up on the given `PATH`.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory (the revision directory).
    pub cwd: PathBuf,
    /// The complete environment; nothing of Core's environment is inherited.
    pub env: BTreeMap<String, String>,
    /// Where captured lines go.
    pub log_sink: LogSink,
}

impl std::fmt::Debug for SpawnSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // env may hold PX_PLUGIN_TOKEN: never print values
        f.debug_struct("SpawnSpec")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("cwd", &self.cwd)
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why a process could not be started, or a runtime facility failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The operating system refused to start the program.
    #[error("cannot start {program}")]
    Spawn {
        /// Program that failed.
        program: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A bare program name was not found on the `PATH` of the given environment.
    #[error("{program} not found on the plugin's PATH")]
    NotFound {
        /// Program that was looked up.
        program: String,
    },
    /// The spawner thread or the tokio runtime it serves is gone, or starting panicked.
    #[error("the spawner is no longer running")]
    SpawnerGone,
    /// `prctl(PR_SET_CHILD_SUBREAPER)` failed.
    #[error("cannot become child subreaper")]
    Subreaper(#[source] nix::Error),
    /// A health probe could not connect, send or read.
    #[error("health probe on port {port} failed")]
    Probe {
        /// Port that was probed.
        port: u16,
        /// Underlying error (a timeout is `ErrorKind::TimedOut`).
        #[source]
        source: std::io::Error,
    },
    /// The health endpoint answered something that is not an HTTP status line.
    #[error("health probe on port {port} got no HTTP status line")]
    BadResponse {
        /// Port that was probed.
        port: u16,
    },
}

/// Outcome of health polling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthOutcome {
    /// Answered 2xx after this long since polling began.
    Healthy(Duration),
    /// Never answered 2xx within the timeout; `last_status` is the last HTTP status seen, if any.
    TimedOut {
        /// Last non-2xx status received, if the plugin answered at all.
        last_status: Option<u16>,
    },
    /// The process exited while we were waiting.
    Exited(ExitStatus),
}
