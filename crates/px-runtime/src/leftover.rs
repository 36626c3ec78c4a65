//! Finding and killing what a previous Core left behind (e.g. one that was
//! `SIGKILL`ed: `PR_SET_PDEATHSIG` ends the plugin itself, not descendants
//! that left its process group). Core records each plugin's [`Leftover`] when
//! it starts it, and at its next start kills what is left: the recorded cgroup,
//! the recorded process group, and the processes carrying the recorded marker.
//!
//! The start time (field 22 of `/proc/<pid>/stat`, in clock ticks since boot)
//! guards against pid reuse: a process is only killed when it is the recorded
//! one, or a member of the recorded process group or a carrier of the marker
//! started no earlier than it. A cgroup is only touched when its name is one
//! this crate gives (`px-runtime.*`); its members are all the plugin's.

use std::fmt;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;

use crate::contain;
use crate::process::signal_group;
use crate::procfs;

/// What the next Core needs to end a process tree this Core started, should
/// this Core die without ending it. Written with `Display` (a few lines of
/// text), read back with [`Leftover::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pid: u32,
    start_time: u64,
    cgroup: Option<PathBuf>,
    marker: Option<String>,
}

impl Leftover {
    pub(crate) fn new(
        pid: u32,
        start_time: u64,
        cgroup: Option<PathBuf>,
        marker: Option<String>,
    ) -> Leftover {
        Leftover {
            pid,
            start_time,
            cgroup,
            marker,
        }
    }

    /// Pid of the spawned process (the process group leader).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The cgroup holding the process and its descendants, if it got one.
    pub fn cgroup(&self) -> Option<&Path> {
        self.cgroup.as_deref()
    }

    /// Reads what `Display` wrote. Also accepts the older one-line form
    /// `"<pid> <start time>"`. `None` when the first line is not that.
    pub fn parse(text: &str) -> Option<Leftover> {
        let mut lines = text.lines();
        let mut first = lines.next()?.split_whitespace();
        let pid = first.next()?.parse().ok()?;
        let start_time = first.next()?.parse().ok()?;
        let mut leftover = Leftover::new(pid, start_time, None, None);
        for line in lines {
            match line.split_once('=') {
                Some(("cgroup", path)) => leftover.cgroup = Some(PathBuf::from(path)),
                Some(("marker", tag)) => leftover.marker = Some(tag.to_owned()),
                _ => {}
            }
        }
        Some(leftover)
    }

    /// Kills (`SIGKILL`) whatever of it is still running and removes its
    /// cgroup. Returns how many live processes there were (0 when nothing was
    /// left). Blocks until they are gone, for at most a few seconds.
    pub fn kill(&self) -> usize {
        let group = kill_leftover_group(self.pid, self.start_time);
        let rest = contain::end_recorded(
            self.cgroup.as_deref(),
            self.marker.as_deref(),
            self.start_time,
        );
        group.max(rest)
    }
}

impl fmt::Display for Leftover {
    /// `"<pid> <start time>\n"`, then `cgroup=<dir>` and `marker=<tag>` lines when set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.pid, self.start_time)?;
        if let Some(cgroup) = &self.cgroup {
            writeln!(f, "cgroup={}", cgroup.display())?;
        }
        if let Some(marker) = &self.marker {
            writeln!(f, "marker={marker}")?;
        }
        Ok(())
    }
}

/// Start time of process `pid` in clock ticks since boot; `None` when it is gone.
pub fn start_time(pid: u32) -> Option<u64> {
    procfs::stat(pid).map(|s| s.start_time)
}

/// Kills (`SIGKILL`) what is left of the process group whose leader was `pid`,
/// started at `start_time`. Returns how many live processes were in the group
/// (0 when nothing was left; nothing is signalled then).
pub fn kill_leftover_group(pid: u32, start_time: u64) -> usize {
    let leader = procfs::stat(pid);
    if let Some(leader) = leader
        && leader.start_time != start_time
    {
        // The pid now belongs to someone else.
        return 0;
    }
    let members = group_members(pid, start_time);
    if members > 0 {
        signal_group(pid, Signal::SIGKILL);
    }
    members
}

/// Live (non-zombie) processes in group `pgid` that started at or after `since`.
fn group_members(pgid: u32, since: u64) -> usize {
    procfs::pids()
        .filter_map(procfs::stat)
        .filter(|f| f.pgrp == pgid && f.state != 'Z' && f.start_time >= since)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_stable_and_a_wrong_one_kills_nothing() {
        let me = std::process::id();
        let t = start_time(me).unwrap();
        assert_eq!(start_time(me), Some(t));
        // a different start time means "not the recorded process": nothing is signalled
        assert_eq!(kill_leftover_group(me, t + 1), 0);
    }

    #[test]
    fn leftovers_read_back_what_they_wrote() {
        let full = Leftover::new(
            42,
            987,
            Some(PathBuf::from("/sys/fs/cgroup/px-runtime.1.2.3")),
            Some("1.2.4".into()),
        );
        assert_eq!(Leftover::parse(&full.to_string()), Some(full.clone()));
        let bare = Leftover::new(42, 987, None, None);
        assert_eq!(bare.to_string(), "42 987\n");
        assert_eq!(Leftover::parse("42 987\n"), Some(bare));
        assert_eq!(Leftover::parse("42\n"), None);
        assert_eq!(Leftover::parse(""), None);
    }
}
