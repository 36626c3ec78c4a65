//! Finding and killing plugin process groups left behind by a previous Core
//! (e.g. one that was `SIGKILL`ed): Core records each plugin's pid and start
//! time when it starts it, and at its next start kills what is left.
//!
//! The start time (field 22 of `/proc/<pid>/stat`, in clock ticks since boot)
//! guards against pid reuse: a process is only killed when it is the recorded
//! one, or a member of the recorded process group started no earlier than it.

use nix::sys::signal::Signal;

use crate::process::signal_group;
use crate::procfs;

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
}
