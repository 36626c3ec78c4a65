//! A cgroup per spawned process, the primary way to end all its descendants.
//!
//! A process cannot leave its cgroup by `setsid`, double forks or clearing its
//! environment: only a write to some `cgroup.procs` moves it, and a plugin
//! cannot write Core's cgroup files unless it runs as root. So "everything in
//! the cgroup" is exactly "the plugin and all its descendants".
//!
//! The child joins its cgroup in `pre_exec` (between fork and exec, before it
//! can fork anything), by writing `0` to the cgroup's `cgroup.procs`. The
//! cgroup is created beside nothing else: `<own cgroup of Core>/px-runtime.<tag>`
//! on the cgroup v2 mount, else on the v1 `freezer` hierarchy. Whether Core
//! may do that is found out once per process by a probe (a forked child that
//! joins a throwaway cgroup); when it may not, [`crate::tree`] is used.
//!
//! Ending: `cgroup.kill` (cgroup v2, Linux 5.14) kills every member at once;
//! without it the members are frozen (`cgroup.freeze`, or the v1
//! `freezer.state`) so none can fork, `SIGKILL`ed one by one, and this repeats
//! until `cgroup.procs` is empty. Then the directory is removed.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use nix::sys::signal::Signal;

use crate::procfs::Held;

/// First part of the name of every cgroup this crate creates; a recorded
/// cgroup whose name does not start with it is never touched.
pub(crate) const PREFIX: &str = "px-runtime.";

/// Where this process may create cgroups: `None` when nowhere.
static BASE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// One spawned process's cgroup.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dir: PathBuf,
    /// `<dir>/cgroup.procs`, ready for the forked child (no allocation there).
    procs: CString,
}

impl Cgroup {
    /// Creates `px-runtime.<tag>` where this process may; `None` when it may
    /// not (or creating it failed: then it is logged).
    pub(crate) fn create(tag: &str) -> Option<Cgroup> {
        let base = BASE.get_or_init(find_base).as_deref()?;
        match Cgroup::create_in(base, tag) {
            Ok(cgroup) => Some(cgroup),
            Err(error) => {
                tracing::warn!(%error, base = %base.display(), "cannot create a cgroup for a plugin process");
                None
            }
        }
    }

    fn create_in(base: &Path, tag: &str) -> io::Result<Cgroup> {
        let dir = base.join(format!("{PREFIX}{tag}"));
        std::fs::create_dir(&dir)?;
        let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(Cgroup { dir, procs })
    }

    /// The cgroup directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/cgroup.procs` as a C string, for [`join`] in a forked child.
    pub(crate) fn procs_file(&self) -> &CStr {
        &self.procs
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is `procs`.
///
/// Async-signal-safe: only `open`, `write` and `close`, no allocation, so it
/// may run in a forked child of a multi-threaded process.
#[allow(unsafe_code)]
pub(crate) fn join(procs: &CStr) -> io::Result<()> {
    // SAFETY: open/write/close with a valid C string and a 1-byte buffer.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let error = io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(error);
        }
    }
    Ok(())
}

/// How the members of a cgroup are killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Write `1` to `cgroup.kill` (cgroup v2, Linux 5.14).
    Kill,
    /// Freeze with `cgroup.freeze` (cgroup v2, Linux 5.2), `SIGKILL` each member
    /// (fatal signals reach frozen tasks in v2).
    FreezeV2,
    /// Freeze with the v1 `freezer.state`, `SIGKILL` each member, thaw (v1
    /// delivers the signal only when thawed).
    FreezeV1,
    /// `SIGKILL` each member.
    Iterate,
}

impl Strategy {
    /// The best one the files of `dir` allow.
    pub(crate) fn of(dir: &Path) -> Strategy {
        if dir.join("cgroup.kill").exists() {
            Strategy::Kill
        } else if dir.join("cgroup.freeze").exists() {
            Strategy::FreezeV2
        } else if dir.join("freezer.state").exists() {
            Strategy::FreezeV1
        } else {
            Strategy::Iterate
        }
    }
}

/// Pids in `<dir>/cgroup.procs` (zombies are not listed); empty when the
/// cgroup is gone.
pub(crate) fn members(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// One round of killing the members of `dir`; returns how many there were.
/// Repeat until it returns 0 (processes take a moment to die, and without
/// `cgroup.kill` one may fork between the listing and its signal).
pub(crate) fn kill_round(dir: &Path, strategy: Strategy) -> usize {
    let listed = members(dir);
    if listed.is_empty() {
        return 0;
    }
    match strategy {
        Strategy::Kill => {
            if let Err(error) = std::fs::write(dir.join("cgroup.kill"), "1") {
                tracing::warn!(%error, cgroup = %dir.display(), "cannot kill cgroup; killing its members one by one");
                signal_members(dir, Signal::SIGKILL, |_| true);
            }
        }
        Strategy::FreezeV2 => {
            let _ = std::fs::write(dir.join("cgroup.freeze"), "1");
            signal_members(dir, Signal::SIGKILL, |_| true);
        }
        Strategy::FreezeV1 => {
            let _ = std::fs::write(dir.join("freezer.state"), "FROZEN");
            signal_members(dir, Signal::SIGKILL, |_| true);
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
        }
        Strategy::Iterate => {
            signal_members(dir, Signal::SIGKILL, |_| true);
        }
    }
    listed.len()
}

/// Sends `signal` to each member of `dir` that `wanted` accepts; returns how
/// many were signalled. Each is held (pidfd) and then checked to be listed
/// still, so a pid reused between the listing and the signal is never hit.
pub(crate) fn signal_members(dir: &Path, signal: Signal, wanted: impl Fn(u32) -> bool) -> usize {
    let held: Vec<Held> = members(dir)
        .into_iter()
        .filter(|&pid| wanted(pid))
        .filter_map(Held::new)
        .collect();
    if held.is_empty() {
        return 0;
    }
    let still = members(dir);
    held.iter()
        .filter(|h| still.contains(&h.pid()) && h.signal(signal))
        .count()
}

/// Removes the (empty) cgroup `dir`; a v2 cgroup left frozen is thawed first
/// so nothing that moves in later is stuck. A missing directory is fine.
pub(crate) fn remove(dir: &Path) -> io::Result<()> {
    let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
    match std::fs::remove_dir(dir) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Whether `dir` may be a cgroup this crate created (for a path read back
/// from a pid file): absolute, no `..`, named `px-runtime.*`, on a cgroup file
/// system.
pub(crate) fn is_ours(dir: &Path) -> bool {
    use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, statfs};
    let plain = dir.is_absolute() && dir.components().all(|c| !matches!(c, Component::ParentDir));
    let named = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(PREFIX));
    plain
        && named
        && statfs(dir).is_ok_and(|fs| {
            let kind = fs.filesystem_type();
            kind == CGROUP2_SUPER_MAGIC || kind == CGROUP_SUPER_MAGIC
        })
}

/// Where this process may create cgroups: its own cgroup on the v2 mount, else
/// on the v1 `freezer` hierarchy, each only when the probe says a child can
/// join a cgroup created there.
fn find_base() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let found = candidates(&mountinfo, &own)
        .into_iter()
        .find(|base| probe(base));
    match &found {
        Some(base) => {
            tracing::debug!(base = %base.display(), "plugin processes each get a cgroup");
            sweep(base);
        }
        None => tracing::info!(
            "no cgroup Core may create: plugin descendants are tracked through /proc instead"
        ),
    }
    found
}

/// Removes the empty cgroups in `base` left by processes that are gone (a
/// Core killed with no successor over its data directory, a killed probe).
/// Cgroups that still hold processes are left to the next Core over that data
/// directory, which knows them from its pid files.
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(owner) else {
            continue;
        };
        let owner_lives = crate::procfs::stat(owner.0).is_some_and(|s| s.start_time == owner.1);
        if !owner_lives && members(&entry.path()).is_empty() {
            let _ = remove(&entry.path());
        }
    }
}

/// `(pid, start time)` of the process that named a cgroup
/// `px-runtime.[probe.]<pid>.<start time>.<n>`.
fn owner(name: &str) -> Option<(u32, u64)> {
    let tag = name.strip_prefix(PREFIX)?;
    let tag = tag.strip_prefix("probe.").unwrap_or(tag);
    let mut parts = tag.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The directories (v2 first, then v1 freezer) that hold this process's own
/// cgroup, from `/proc/self/mountinfo` and `/proc/self/cgroup`.
fn candidates(mountinfo: &str, own: &str) -> Vec<PathBuf> {
    let own_v2 = own.lines().find_map(|l| l.strip_prefix("0::"));
    let own_freezer = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "freezer")
            .then_some(path)
    });
    let mut v2 = Vec::new();
    let mut v1 = Vec::new();
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options… - fstype source superoptions
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(mountpoint), Some(fstype)) =
            (left.get(3), left.get(4), right.first())
        else {
            continue;
        };
        if mountpoint.contains('\\') || left.get(5).is_some_and(|o| o.split(',').any(|o| o == "ro"))
        {
            continue;
        }
        let inside = |own: &str| -> Option<PathBuf> {
            let relative = Path::new(own).strip_prefix(root).ok()?;
            Some(Path::new(mountpoint).join(relative))
        };
        if *fstype == "cgroup2" {
            v2.extend(own_v2.and_then(inside));
        } else if *fstype == "cgroup"
            && right
                .get(2)
                .is_some_and(|o| o.split(',').any(|o| o == "freezer"))
        {
            v1.extend(own_freezer.and_then(inside));
        }
    }
    v2.extend(v1);
    v2
}

/// Whether a forked child can join a cgroup created under `base`.
#[allow(unsafe_code)]
fn probe(base: &Path) -> bool {
    let Ok(cgroup) = Cgroup::create_in(base, &format!("probe.{}", crate::contain::tag())) else {
        return false;
    };
    // SAFETY: fork in a multi-threaded process: the child only calls `join`
    // (open, write, close) and `_exit`, all async-signal-safe, on memory
    // prepared before the fork. The parent waits for exactly this pid; the
    // orphan reaper leaves children in Core's own process group alone.
    let joined = unsafe {
        match libc::fork() {
            -1 => false,
            0 => libc::_exit(i32::from(join(cgroup.procs_file()).is_err())),
            pid => {
                let mut status = 0;
                while libc::waitpid(pid, &raw mut status, 0) == -1
                    && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                {
                }
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
            }
        }
    };
    let _ = remove(cgroup.dir());
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_own_cgroup_on_v2_then_v1_freezer() {
        let mountinfo = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 /sub /mnt/cg rw,relatime - cgroup2 cgroup2 rw
43 31 0:40 / /mnt/ro ro,relatime - cgroup2 cgroup2 rw
";
        let own = "9:name=systemd:/\n6:freezer:/user/7\n4:memory:/m\n0::/sub/core\n";
        assert_eq!(
            candidates(mountinfo, own),
            [
                PathBuf::from("/sys/fs/cgroup/unified/sub/core"),
                PathBuf::from("/mnt/cg/core"),
                PathBuf::from("/sys/fs/cgroup/freezer/user/7"),
            ]
        );
        assert!(candidates(mountinfo, "4:memory:/m\n").is_empty());
    }

    /// Every strategy on every hierarchy this machine lets us use kills a
    /// shell and its `setsid` child, and leaves the cgroup removable.
    #[test]
    #[allow(unsafe_code)]
    fn every_strategy_kills_a_setsid_tree() {
        use std::os::unix::process::CommandExt;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let bases: Vec<PathBuf> = candidates(&mountinfo, &own)
            .into_iter()
            .filter(|b| probe(b))
            .collect();
        assert!(
            !bases.is_empty() || std::env::var_os("PX_RUNTIME_NO_CGROUP").is_some(),
            "no cgroup on this machine: run with PX_RUNTIME_NO_CGROUP=1 to test only the fallback"
        );
        for base in &bases {
            let mut strategies = vec![Strategy::Iterate];
            if base.join("cgroup.procs").exists() && base.join("cgroup.controllers").exists() {
                strategies.extend([Strategy::Kill, Strategy::FreezeV2]);
            } else {
                strategies.push(Strategy::FreezeV1);
            }
            for strategy in strategies {
                let cgroup = Cgroup::create_in(base, &crate::contain::tag()).unwrap();
                let procs = cgroup.procs_file().to_owned();
                let mut command = std::process::Command::new("sh");
                command.args(["-c", "setsid sleep 300 & exec sleep 300"]);
                // SAFETY: `join` is async-signal-safe (see there).
                unsafe {
                    command.pre_exec(move || join(&procs));
                }
                let mut child = command.spawn().unwrap();
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                while members(cgroup.dir()).len() < 2 {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{strategy:?} in {base:?}"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                let escaper = *members(cgroup.dir())
                    .iter()
                    .find(|&&p| p != child.id())
                    .unwrap();
                let mut rounds = 0;
                while kill_round(cgroup.dir(), strategy) > 0 {
                    rounds += 1;
                    assert!(rounds < 1000, "{strategy:?} in {base:?} never ends");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                assert!(!child.wait().unwrap().success());
                assert!(
                    crate::procfs::stat(escaper).is_none_or(|s| s.state == 'Z'),
                    "{strategy:?} in {base:?}: the setsid child lives"
                );
                remove(cgroup.dir()).unwrap();
                assert!(!cgroup.dir().exists());
            }
        }
    }

    #[test]
    fn cgroup_names_tell_their_owner() {
        assert_eq!(owner("px-runtime.42.987.3"), Some((42, 987)));
        assert_eq!(owner("px-runtime.probe.42.987.3"), Some((42, 987)));
        assert_eq!(owner("px-runtime.x"), None);
        assert_eq!(owner("system.slice"), None);
    }

    #[test]
    fn only_our_own_cgroups_are_ours() {
        assert!(!is_ours(Path::new("/sys/fs/cgroup/unified")));
        assert!(!is_ours(Path::new("/tmp/px-runtime.1.2.3")));
        assert!(!is_ours(Path::new("px-runtime.1.2.3")));
        assert!(!is_ours(Path::new(
            "/sys/fs/cgroup/unified/px-runtime.1/../system.slice"
        )));
    }
}
