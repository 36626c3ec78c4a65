//! What holds a spawned process and all its descendants, so that none
//! outlives it: a cgroup ([`crate::cgroup`]) where Core may create one, else
//! an environment marker plus the parent tree ([`crate::tree`]).
//!
//! Every live containment is also in a process-wide registry that an `atexit`
//! handler ends, so a Core that exits without stopping a plugin (a revision
//! left warm when `main` returns) leaves nothing behind. A Core killed with
//! `SIGKILL` runs no handler: for that, [`crate::Leftover`] records what the
//! next Core needs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Once};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::cgroup::{self, Cgroup, Strategy};
use crate::procfs;
use crate::tree::{self, Tree};

/// How long ending a containment may take before it is given up (and logged).
const END_LIMIT: Duration = Duration::from_secs(3);
/// Pause between kill rounds.
const ROUND_PAUSE: Duration = Duration::from_millis(5);
/// How often the fallback rescans a running process's descendants.
pub(crate) const TRACK_INTERVAL: Duration = Duration::from_secs(1);

static SEQ: AtomicU64 = AtomicU64::new(1);
static LIVE: LazyLock<Mutex<HashMap<u64, Arc<Containment>>>> = LazyLock::new(Mutex::default);

/// A name unique on this machine until reboot: `<pid>.<start time>.<n>` of
/// this process and a counter.
pub(crate) fn tag() -> String {
    static ME: LazyLock<(u32, u64)> = LazyLock::new(|| {
        let me = std::process::id();
        (me, procfs::stat(me).map_or(0, |s| s.start_time))
    });
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{}.{}.{n}", ME.0, ME.1)
}

/// Holds one spawned process and its descendants.
#[derive(Debug)]
pub(crate) struct Containment {
    id: u64,
    how: How,
}

#[derive(Debug)]
enum How {
    Cgroup(Cgroup),
    Tree(Tree),
}

impl Containment {
    /// A fresh cgroup when `cgroups` and one can be created, else a marked tree.
    pub(crate) fn prepare(cgroups: bool) -> Containment {
        let tag = tag();
        let how = match cgroups.then(|| Cgroup::create(&tag)).flatten() {
            Some(cgroup) => How::Cgroup(cgroup),
            None => How::Tree(Tree::new(tag)),
        };
        Containment {
            id: SEQ.fetch_add(1, Ordering::Relaxed),
            how,
        }
    }

    /// The cgroup's `cgroup.procs`, for the child to join before exec.
    pub(crate) fn cgroup_procs(&self) -> Option<&std::ffi::CStr> {
        match &self.how {
            How::Cgroup(cgroup) => Some(cgroup.procs_file()),
            How::Tree(_) => None,
        }
    }

    /// The cgroup directory, if this is a cgroup.
    pub(crate) fn cgroup_dir(&self) -> Option<&Path> {
        match &self.how {
            How::Cgroup(cgroup) => Some(cgroup.dir()),
            How::Tree(_) => None,
        }
    }

    /// The environment entry to add, if this is a marked tree.
    pub(crate) fn marker(&self) -> Option<(&'static str, &str)> {
        match &self.how {
            How::Cgroup(_) => None,
            How::Tree(tree) => Some((tree::MARKER, tree.tag())),
        }
    }

    /// Whether [`Containment::track`] needs calling while the leader runs.
    pub(crate) fn needs_tracking(&self) -> bool {
        matches!(self.how, How::Tree(_))
    }

    /// The leader was spawned: remember it, and end this containment at exit
    /// of this process if nothing ends it before.
    pub(crate) fn attach(self: &Arc<Self>, pid: u32, start_time: u64) {
        if let How::Tree(tree) = &self.how {
            tree.attach(pid, start_time);
        }
        static AT_EXIT: Once = Once::new();
        AT_EXIT.call_once(register_at_exit);
        lock_live().insert(self.id, self.clone());
    }

    /// Rescans the descendants (fallback only; a no-op for a cgroup).
    pub(crate) fn track(&self) {
        if let How::Tree(tree) = &self.how {
            tree.track();
        }
    }

    /// Sends `signal` to every member not in process group `except_group`
    /// (that one is signalled with `killpg`).
    pub(crate) fn signal(&self, signal: Signal, except_group: u32) {
        match &self.how {
            How::Cgroup(cgroup) => {
                cgroup::signal_members(cgroup.dir(), signal, |pid| {
                    procfs::stat(pid).is_some_and(|s| s.pgrp != except_group)
                });
            }
            How::Tree(tree) => {
                tree.signal(signal, except_group);
            }
        }
    }

    /// Kills every member, waits until none is left, removes the cgroup.
    pub(crate) async fn end(&self) {
        let deadline = Instant::now() + END_LIMIT;
        let mut quiet = 0;
        loop {
            quiet = if self.kill_round() == 0 { quiet + 1 } else { 0 };
            if quiet >= self.quiet_rounds() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(ROUND_PAUSE).await;
        }
        self.finish();
    }

    /// Ends it at once (a spawn that failed: nothing is in it).
    pub(crate) fn end_now(&self) {
        self.end_blocking(Duration::ZERO);
    }

    /// [`Containment::end`] for threads without a runtime, within `limit`.
    fn end_blocking(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut quiet = 0;
        loop {
            quiet = if self.kill_round() == 0 { quiet + 1 } else { 0 };
            if quiet >= self.quiet_rounds() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(ROUND_PAUSE);
        }
        self.finish();
    }

    /// Rounds in a row that must find nothing before it counts as ended:
    /// `cgroup.procs` is exact; a marker scan can miss a process in the middle
    /// of `exec` (its environment reads empty for a moment), so it takes two.
    fn quiet_rounds(&self) -> u32 {
        match &self.how {
            How::Cgroup(_) => 1,
            How::Tree(_) => 2,
        }
    }

    fn kill_round(&self) -> usize {
        match &self.how {
            How::Cgroup(cgroup) => cgroup::kill_round(cgroup.dir(), Strategy::of(cgroup.dir())),
            How::Tree(tree) => tree.kill_round(),
        }
    }

    fn finish(&self) {
        lock_live().remove(&self.id);
        if let How::Cgroup(cgroup) = &self.how
            && let Err(error) = cgroup::remove(cgroup.dir())
        {
            tracing::warn!(%error, cgroup = %cgroup.dir().display(), "cannot remove a plugin's cgroup");
        }
    }
}

/// Ends what a previous Core recorded: the cgroup `dir` (only one this crate
/// names), and/or processes carrying marker `tag` started at or after
/// `since`. Returns how many live processes there were.
pub(crate) fn end_recorded(dir: Option<&Path>, tag: Option<&str>, since: u64) -> usize {
    let dir: Option<PathBuf> = dir.filter(|d| cgroup::is_ours(d)).map(Path::to_owned);
    let round = || {
        let in_cgroup = dir
            .as_deref()
            .map_or(0, |d| cgroup::kill_round(d, Strategy::of(d)));
        in_cgroup + tag.map_or(0, |t| tree::kill_marked_round(t, since))
    };
    let first = round();
    // two quiet rounds for the marker scan (see `Containment::quiet_rounds`)
    let deadline = Instant::now() + END_LIMIT;
    let mut quiet = u32::from(first == 0);
    while quiet < 2 && Instant::now() < deadline {
        std::thread::sleep(ROUND_PAUSE);
        quiet = if round() == 0 { quiet + 1 } else { 0 };
    }
    if let Some(dir) = &dir
        && let Err(error) = cgroup::remove(dir)
    {
        tracing::warn!(%error, cgroup = %dir.display(), "cannot remove a dead Core's plugin cgroup");
    }
    first
}

fn lock_live() -> std::sync::MutexGuard<'static, HashMap<u64, Arc<Containment>>> {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[allow(unsafe_code)]
fn register_at_exit() {
    extern "C" fn end_all() {
        let _ = std::panic::catch_unwind(|| {
            let live: Vec<Arc<Containment>> = lock_live().values().cloned().collect();
            for containment in live {
                containment.end_blocking(Duration::from_millis(500));
            }
        });
    }
    // SAFETY: registers a function without arguments that never unwinds.
    if unsafe { libc::atexit(end_all) } != 0 {
        tracing::warn!("cannot register the exit handler that ends plugin processes");
    }
}
