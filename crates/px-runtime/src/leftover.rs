//! Finding and killing plugin process groups left behind by a previous Core
//! (e.g. one that was `SIGKILL`ed): Core records each plugin's pid and start
//! time when it starts it, and at its next start kills what is left.
//!
//! The start time (field 22 of `/proc/<pid>/stat`, in clock ticks since boot)
//! guards against pid reuse: a process is only killed when it is the recorded
//! one, or a member of the recorded process group started no earlier than it.

use nix::sys::signal::Signal;

use crate::process::signal_group;

/// Start time of process `pid` in clock ticks since boot; `None` when it is gone.
pub fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid).map(|f| f.start_time)
}

/// Kills (`SIGKILL`) what is left of the process group whose leader was `pid`,
/// started at `start_time`. Returns how many live processes were in the group
/// (0 when nothing was left; nothing is signalled then).
pub fn kill_leftover_group(pid: u32, start_time: u64) -> usize {
    let leader = stat_fields(pid);
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
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat_fields)
        .filter(|f| f.pgrp == pgid && f.state != 'Z' && f.start_time >= since)
        .count()
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    state: char,
    pgrp: u32,
    start_time: u64,
}

fn stat_fields(pid: u32) -> Option<Fields> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse(&text)
}

fn parse(text: &str) -> Option<Fields> {
    // "pid (comm) S ppid pgrp session tty tpgid flags minflt cminflt majflt
    //  cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ..."
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    Some(Fields {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        // field 22 overall; field 3 (state) is index 0 here
        start_time: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_start_time() {
        let text = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let f = parse(text).unwrap();
        assert_eq!(f.pgrp, 42);
        assert_eq!(f.start_time, 987_654);
        assert_eq!(f.state, 'S');
    }

    #[test]
    fn own_start_time_is_stable_and_a_wrong_one_kills_nothing() {
        let me = std::process::id();
        let t = start_time(me).unwrap();
        assert_eq!(start_time(me), Some(t));
        // a different start time means "not the recorded process": nothing is signalled
        assert_eq!(kill_leftover_group(me, t + 1), 0);
    }
}
