//! Reading `/proc`: the few fields of `/proc/<pid>/stat` the reaper and the
//! leftover killer need, parsed in one place; a process's environment; and
//! signalling a process only while it is still the one that was looked at
//! (through a pidfd, so a reused pid is never hit).

use std::os::fd::{FromRawFd, OwnedFd};

use nix::sys::signal::Signal;

/// Fields of `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// State letter (`R`, `S`, `Z`, …).
    pub(crate) state: char,
    /// Parent pid.
    pub(crate) ppid: u32,
    /// Process group id.
    pub(crate) pgrp: u32,
    /// Start time in clock ticks since boot (field 22).
    pub(crate) start_time: u64,
}

/// Reads `/proc/<pid>/stat`; `None` if the process is gone.
pub(crate) fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Every pid currently in `/proc`.
pub(crate) fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
}

/// Whether the environment process `pid` was started with holds exactly the
/// entry `entry` (`NAME=value`). `false` when it is gone or not readable.
pub(crate) fn environ_has(pid: u32, entry: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|environ| environ.split(|b| *b == 0).any(|e| e == entry))
}

/// A process held still for signalling: a pidfd where the kernel has them
/// (Linux 5.3), else just its pid.
#[derive(Debug)]
pub(crate) struct Held {
    pid: u32,
    fd: Option<OwnedFd>,
}

impl Held {
    /// Holds process `pid`; `None` when it is gone. Check that it is still the
    /// process you mean *after* holding it, then [`Held::signal`] it.
    #[allow(unsafe_code)]
    pub(crate) fn new(pid: u32) -> Option<Held> {
        let raw = libc::pid_t::try_from(pid).ok()?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
        if fd >= 0 {
            let fd = i32::try_from(fd).ok()?;
            // SAFETY: fd is a freshly opened descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            return Some(Held { pid, fd: Some(fd) });
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ENOSYS) => Some(Held { pid, fd: None }),
            _ => None,
        }
    }

    /// Pid of the held process.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal`; `false` when the process is gone.
    #[allow(unsafe_code)]
    pub(crate) fn signal(&self, signal: Signal) -> bool {
        use std::os::fd::AsRawFd;
        match &self.fd {
            // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo, no flags.
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    signal as libc::c_int,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                ) == 0
            },
            None => libc::pid_t::try_from(self.pid).is_ok_and(|pid| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).is_ok()
            }),
        }
    }
}

/// Sends `signal` to process `pid` if it is still the one started at
/// `start_time` (checked after it is held, so pid reuse cannot redirect it).
pub(crate) fn signal_if_same(pid: u32, start_time: u64, signal: Signal) -> bool {
    Held::new(pid)
        .filter(|_| stat(pid).is_some_and(|s| s.start_time == start_time && s.state != 'Z'))
        .is_some_and(|held| held.signal(signal))
}

fn parse_stat(text: &str) -> Option<Stat> {
    // "pid (comm) S ppid pgrp session tty tpgid flags minflt cminflt majflt
    //  cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ..."
    // comm may contain spaces and parentheses: split after the last ')'
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        // field 22 overall; field 3 (state) is index 0 here
        start_time: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let text =
            "42 (a b) c)) Z 17 4240 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let expected = Stat {
            state: 'Z',
            ppid: 17,
            pgrp: 4240,
            start_time: 987_654,
        };
        assert_eq!(parse_stat(text), Some(expected));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("4242 (short) S 1 2"), None, "too few fields");
    }

    #[test]
    fn reads_own_stat() {
        let me = stat(std::process::id()).unwrap();
        assert_ne!(me.state, 'Z');
        assert!(pids().any(|pid| pid == std::process::id()));
    }

    #[test]
    fn signals_only_the_process_it_was_asked_for() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("PX_PROCFS_TEST", "yes")
            .spawn()
            .unwrap();
        let pid = child.id();
        // the environment reads empty for a moment while exec sets it up
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !environ_has(pid, b"PX_PROCFS_TEST=yes") {
            assert!(std::time::Instant::now() < deadline, "marker never visible");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(!environ_has(pid, b"PX_PROCFS_TEST=no"));
        let started = stat(pid).unwrap().start_time;
        assert!(
            !signal_if_same(pid, started + 1, Signal::SIGKILL),
            "not the same process"
        );
        assert!(stat(pid).is_some_and(|s| s.state != 'Z'));
        assert!(signal_if_same(pid, started, Signal::SIGKILL));
        assert!(!child.wait().unwrap().success());
        assert!(!signal_if_same(pid, started, Signal::SIGKILL), "gone");
    }
}
