//! Core as child subreaper, and the reaper for orphaned plugin descendants.
//!
//! A plugin's children that outlive it are re-parented to Core (subreaper) and
//! become zombies when they exit. They must be reaped, but not with a blanket
//! `waitpid(-1)`, which would steal exit statuses that tokio waits for. The
//! reaper reaps only zombies that are our children, not in Core's own process
//! group (so not spawned by anything else in Core), and not a group leader
//! this crate spawned (tokio waits for those).

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getpgrp};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

use crate::RuntimeError;
use crate::procfs;

/// How often the reaper scans even without `SIGCHLD`.
const SCAN_INTERVAL: Duration = Duration::from_secs(2);

/// Pids of the group leaders spawned by this crate and not yet awaited.
static TRACKED: LazyLock<Mutex<HashSet<u32>>> = LazyLock::new(Mutex::default);

pub(crate) fn tracked() -> MutexGuard<'static, HashSet<u32>> {
    TRACKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn untrack(pid: u32) {
    tracked().remove(&pid);
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`): orphaned
/// descendants of plugins are re-parented to it instead of to PID 1.
pub fn become_subreaper() -> Result<(), RuntimeError> {
    nix::sys::prctl::set_child_subreaper(true).map_err(RuntimeError::Subreaper)
}

/// Starts the orphan reaper on the current tokio runtime: it scans on every
/// `SIGCHLD` and every 2 s. Several reapers may run; they do not conflict.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn spawn_orphan_reaper() -> JoinHandle<()> {
    tokio::spawn(async {
        let mut sigchld = signal(SignalKind::child())
            .inspect_err(|error| tracing::warn!(%error, "no SIGCHLD stream; reaping every 2 s"))
            .ok();
        let mut tick = tokio::time::interval(SCAN_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            match sigchld.as_mut() {
                Some(sigchld) => {
                    tokio::select! {
                        _ = sigchld.recv() => {}
                        _ = tick.tick() => {}
                    }
                }
                None => {
                    tick.tick().await;
                }
            }
            let reaped = reap_orphans();
            if reaped > 0 {
                tracing::debug!(reaped, "reaped orphaned plugin descendants");
            }
        }
    })
}

/// One scan of `/proc`; returns how many zombies were reaped.
pub(crate) fn reap_orphans() -> usize {
    let me = std::process::id();
    let my_group = u32::try_from(getpgrp().as_raw()).unwrap_or(0);
    let candidates: Vec<u32> = procfs::pids()
        .filter(|&pid| {
            procfs::stat(pid).is_some_and(|s| s.state == 'Z' && s.ppid == me && s.pgrp != my_group)
        })
        .collect();
    if candidates.is_empty() {
        return 0;
    }
    let tracked = tracked();
    let mut reaped = 0;
    for pid in candidates.into_iter().filter(|pid| !tracked.contains(pid)) {
        let Ok(raw) = i32::try_from(pid) else {
            continue;
        };
        match waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => {}
            Ok(_) => reaped += 1,
        }
    }
    reaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_stat() {
        let me = procfs::stat(std::process::id()).unwrap();
        assert_eq!(me.pgrp, u32::try_from(getpgrp().as_raw()).unwrap());
        assert_ne!(me.state, 'Z');
    }
}
