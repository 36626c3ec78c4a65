//! A running (or finished) plugin process.

use std::path::Path;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

use crate::Leftover;
use crate::contain::Containment;
use crate::logs::LogState;

/// Handle to a spawned process, its process group and all its descendants.
/// Cheap to clone; all clones observe the same process.
///
/// When the process (the group leader) exits, whatever is left of its process
/// group, and every other descendant (also one that called `setsid`), is
/// killed with `SIGKILL`, so a plugin never leaves helpers behind: they are
/// all in the process's cgroup, or found by its marker and parent tree (see
/// the crate documentation).
#[derive(Debug, Clone)]
pub struct Process {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pid: u32,
    start_time: Option<u64>,
    status: watch::Receiver<Option<ExitStatus>>,
    containment: Arc<Containment>,
    logs: Arc<LogState>,
    /// Serializes [`Process::stop`] so concurrent stops do not interleave signals.
    stopping: tokio::sync::Mutex<()>,
}

impl Process {
    pub(crate) fn new(
        pid: u32,
        start_time: Option<u64>,
        status: watch::Receiver<Option<ExitStatus>>,
        logs: Arc<LogState>,
        containment: Arc<Containment>,
    ) -> Self {
        let inner = Inner {
            pid,
            start_time,
            status,
            containment,
            logs,
            stopping: tokio::sync::Mutex::new(()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Process id; also the id of its process group.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The cgroup holding the process and its descendants; `None` when it got
    /// none (no writable cgroup, or [`crate::Spawner::without_cgroups`]).
    pub fn cgroup(&self) -> Option<&Path> {
        self.inner.containment.cgroup_dir()
    }

    /// What the next Core needs to end this process and its descendants if
    /// this Core dies first (see [`Leftover`]); `None` if its start time could
    /// not be read (it exited at once).
    pub fn leftover(&self) -> Option<Leftover> {
        let containment = &self.inner.containment;
        Some(Leftover::new(
            self.inner.pid,
            self.inner.start_time?,
            containment.cgroup_dir().map(Path::to_owned),
            containment.marker().map(|(_, tag)| tag.to_owned()),
        ))
    }

    /// The exit status if the process has exited, its descendants are gone
    /// and its pipes were drained, without waiting.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self.inner.status.borrow()
    }

    /// Waits until the process has exited and every descendant left has been
    /// killed. Any number of callers may wait.
    ///
    /// By the time this returns, stderr has been read to its end (or for at
    /// most a short grace when leftover processes keep the pipe open), so
    /// [`Process::last_stderr`] holds the last words of the process.
    pub async fn exited(&self) -> ExitStatus {
        let mut status = self.inner.status.clone();
        // copy the status out before the next await: the watch guard is not Send
        let waited = status.wait_for(Option::is_some).await.map(|status| *status);
        match waited {
            Ok(status) => status.expect("wait_for returns a Some"),
            // the waiting task is gone only when the runtime shuts down
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops the process: `SIGTERM` to its whole process group and every
    /// other descendant, then after `grace` `SIGKILL` to the group; once the
    /// process has exited, whatever is left is killed. Returns the exit
    /// status when nothing of it is left. Idempotent: calling it on a process
    /// that already exited just returns its status.
    pub async fn stop(&self, grace: Duration) -> ExitStatus {
        let _one_at_a_time = self.inner.stopping.lock().await;
        if let Some(status) = self.exit_status() {
            return status;
        }
        // the others first: the fallback finds them through the leader's tree
        self.inner
            .containment
            .signal(Signal::SIGTERM, self.inner.pid);
        self.signal_group(Signal::SIGTERM);
        match tokio::time::timeout(grace, self.exited()).await {
            Ok(status) => status,
            Err(_) => {
                self.signal_group(Signal::SIGKILL);
                self.exited().await
            }
        }
    }

    /// Lines lost because they arrived faster than the log sink took them.
    pub fn dropped_lines(&self) -> u64 {
        self.inner.logs.dropped()
    }

    /// The last `n` (at most 50) stderr lines, oldest first, for failure reasons.
    pub fn last_stderr(&self, n: usize) -> Vec<String> {
        self.inner.logs.last_stderr(n)
    }

    fn signal_group(&self, signal: Signal) {
        signal_group(self.inner.pid, signal);
    }
}

/// Sends `signal` to process group `pgid`; a group that no longer exists is fine.
pub(crate) fn signal_group(pgid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pgid) else { return };
    if let Err(error) = killpg(Pid::from_raw(raw), signal)
        && error != nix::errno::Errno::ESRCH
    {
        tracing::warn!(pgid, ?signal, %error, "cannot signal process group");
    }
}
