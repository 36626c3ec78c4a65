//! Reading `/proc`: the few fields of `/proc/<pid>/stat` the reaper and the
//! leftover killer need, parsed in one place.

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
}
