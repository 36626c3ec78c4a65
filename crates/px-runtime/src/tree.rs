//! Ending a process's descendants without a cgroup (the fallback, for
//! machines where Core may create none).
//!
//! Two marks, because neither alone is enough:
//!
//! - **an environment marker**, `PX_RUNTIME_TREE=<tag>`, added to the spawned
//!   environment and inherited by every descendant that does not clear its
//!   environment. `/proc/<pid>/environ` is the environment a process was
//!   *started* with, so the marker survives `setsid`, double forks, the death
//!   of every ancestor and the death of Core itself: it is what the next Core
//!   looks for after a `SIGKILL`;
//! - **the parent tree**: Core is a child subreaper, so while it lives no
//!   descendant of a plugin is ever re-parented away from it. Walking
//!   `/proc/*/stat` parent links from the leader and from every process already
//!   known finds descendants that cleared their environment (`env -i`), as long
//!   as they were seen once while attached: the known ones are remembered by
//!   pid *and start time* and rescanned every second while the leader runs.
//!
//! Only processes started no earlier than the leader are considered, and each
//! is signalled through a pidfd after its start time is checked again, so a
//! reused pid is never hit. What this cannot catch: a descendant that clears
//! its environment and is orphaned before any scan saw it (less than a second),
//! or that does so while Core is dead. Cgroups have no such gap.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use nix::sys::signal::Signal;

use crate::procfs::{self, Stat};

/// Name of the marker variable.
pub(crate) const MARKER: &str = "PX_RUNTIME_TREE";

/// The descendants of one spawned process, as far as they are known.
#[derive(Debug)]
pub(crate) struct Tree {
    tag: String,
    /// `(pid, start time)` of the leader, once spawned.
    leader: Mutex<Option<(u32, u64)>>,
    /// `(pid, start time)` of every live descendant seen so far.
    known: Mutex<HashSet<(u32, u64)>>,
}

impl Tree {
    pub(crate) fn new(tag: String) -> Tree {
        Tree {
            tag,
            leader: Mutex::new(None),
            known: Mutex::default(),
        }
    }

    /// The marker's value.
    pub(crate) fn tag(&self) -> &str {
        &self.tag
    }

    /// Records the leader, right after it was spawned.
    pub(crate) fn attach(&self, pid: u32, start_time: u64) {
        *lock(&self.leader) = Some((pid, start_time));
    }

    /// Rescans, remembering every live descendant found (cheap: no environments read).
    pub(crate) fn track(&self) {
        self.scan(false);
    }

    /// Sends `signal` to every live member (leader included) not in process
    /// group `except_group`; returns how many were signalled.
    pub(crate) fn signal(&self, signal: Signal, except_group: u32) -> usize {
        self.scan(true)
            .into_iter()
            .filter(|(_, stat)| stat.pgrp != except_group)
            .filter(|(pid, stat)| procfs::signal_if_same(*pid, stat.start_time, signal))
            .count()
    }

    /// One round of killing every live member; returns how many there were.
    pub(crate) fn kill_round(&self) -> usize {
        let members = self.scan(true);
        for (pid, stat) in &members {
            procfs::signal_if_same(*pid, stat.start_time, Signal::SIGKILL);
        }
        members.len()
    }

    /// Live members now: the leader, processes carrying the marker (when
    /// `environ`), known descendants, and everything below them.
    fn scan(&self, environ: bool) -> Vec<(u32, Stat)> {
        let Some((leader, since)) = *lock(&self.leader) else {
            return Vec::new();
        };
        let marker = format!("{MARKER}={}", self.tag).into_bytes();
        let live: HashMap<u32, Stat> = procfs::pids()
            .filter_map(|pid| Some((pid, procfs::stat(pid)?)))
            .filter(|(_, s)| s.state != 'Z' && s.start_time >= since)
            .collect();
        let mut known = lock(&self.known);
        let mut members: HashSet<u32> = live
            .iter()
            .filter(|(pid, s)| {
                (**pid == leader && s.start_time == since)
                    || known.contains(&(**pid, s.start_time))
                    || (environ && procfs::environ_has(**pid, &marker))
            })
            .map(|(pid, _)| *pid)
            .collect();
        // children of members, until no more are found
        loop {
            let before = members.len();
            for (pid, s) in &live {
                if members.contains(&s.ppid)
                    && live
                        .get(&s.ppid)
                        .is_some_and(|p| p.start_time <= s.start_time)
                {
                    members.insert(*pid);
                }
            }
            if members.len() == before {
                break;
            }
        }
        let found: Vec<(u32, Stat)> = members.into_iter().map(|pid| (pid, live[&pid])).collect();
        *known = found
            .iter()
            .filter(|(pid, _)| *pid != leader)
            .map(|(pid, s)| (*pid, s.start_time))
            .collect();
        found
    }
}

/// One round of killing what is left of a tree recorded by a previous Core:
/// live processes started at or after `since` that carry marker `tag`.
/// Returns how many there were.
pub(crate) fn kill_marked_round(tag: &str, since: u64) -> usize {
    let marker = format!("{MARKER}={tag}").into_bytes();
    let marked: Vec<(u32, u64)> = procfs::pids()
        .filter_map(|pid| Some((pid, procfs::stat(pid)?)))
        .filter(|(_, s)| s.state != 'Z' && s.start_time >= since)
        .filter(|(pid, _)| procfs::environ_has(*pid, &marker))
        .map(|(pid, s)| (pid, s.start_time))
        .collect();
    for (pid, start) in &marked {
        procfs::signal_if_same(*pid, *start, Signal::SIGKILL);
    }
    marked.len()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
