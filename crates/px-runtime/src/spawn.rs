//! Starting processes from one dedicated, never-exiting thread.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not
//! the process. Spawning from a tokio blocking-pool thread (which exits after
//! ~10 s idle) would therefore kill plugins shortly after they start. All
//! spawns go through one `std::thread` that lives as long as the process.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};

use crate::cgroup;
use crate::contain::{Containment, TRACK_INTERVAL};
use crate::logs::{self, LogState};
use crate::process::{Process, signal_group};
use crate::{RuntimeError, SpawnSpec, procfs, reaper};

/// How long an exit waits for the pipes to reach end of file, so the last
/// stderr lines are captured even when a leftover process holds the pipe.
const DRAIN_GRACE: Duration = Duration::from_millis(100);

type Reply = oneshot::Sender<Result<Process, RuntimeError>>;

/// Starts processes. Clones share the same spawner thread.
///
/// The thread never exits, even after every `Spawner` is dropped, because its
/// exit would send `SIGKILL` to every process it started.
#[derive(Debug, Clone)]
pub struct Spawner {
    requests: mpsc::Sender<Request>,
    cgroups: bool,
}

struct Request {
    spec: SpawnSpec,
    cgroups: bool,
    reply: Reply,
}

impl Default for Spawner {
    /// Same as [`Spawner::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Spawner {
    /// A spawner whose processes are awaited on the current tokio runtime.
    /// Each process gets a cgroup where Core may create one, unless the
    /// environment has `PX_RUNTIME_NO_CGROUP=1` (see [`Spawner::without_cgroups`]).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if the thread cannot be created.
    pub fn new() -> Self {
        Self::with_handle(Handle::current())
    }

    /// A spawner whose processes are awaited on the runtime of `handle`.
    ///
    /// # Panics
    ///
    /// If the thread cannot be created.
    pub fn with_handle(handle: Handle) -> Self {
        let (requests, inbox) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("px-runtime-spawner".into())
            .spawn(move || {
                let _runtime = handle.enter();
                for Request {
                    spec,
                    cgroups,
                    reply,
                } in inbox
                {
                    // a panic must not end this thread (see above)
                    let started =
                        std::panic::catch_unwind(AssertUnwindSafe(|| start(spec, cgroups)))
                            .unwrap_or(Err(RuntimeError::SpawnerGone));
                    let _ = reply.send(started);
                }
                // Never exit: see the type's documentation.
                loop {
                    std::thread::park();
                }
            })
            .expect("cannot create the px-runtime spawner thread");
        let cgroups = std::env::var_os("PX_RUNTIME_NO_CGROUP").is_none_or(|v| v != "1");
        Self { requests, cgroups }
    }

    /// The same spawner, but its processes never get a cgroup: their
    /// descendants are ended through the fallback (an environment marker
    /// `PX_RUNTIME_TREE` and the parent tree), as on a machine without a
    /// writable cgroup.
    #[must_use]
    pub fn without_cgroups(mut self) -> Self {
        self.cgroups = false;
        self
    }

    /// Starts `spec.program` with exactly `spec.env` (plus the
    /// `PX_RUNTIME_TREE` marker when it gets no cgroup), in `spec.cwd`, in a
    /// new process group and (where Core may create one) its own cgroup, with
    /// stdin from `/dev/null`,
    /// stdout and stderr captured into `spec.log_sink`, and `SIGKILL`
    /// delivered to it if Core dies.
    pub async fn spawn(&self, spec: SpawnSpec) -> Result<Process, RuntimeError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            spec,
            cgroups: self.cgroups,
            reply,
        };
        self.requests
            .send(request)
            .map_err(|_| RuntimeError::SpawnerGone)?;
        answer.await.map_err(|_| RuntimeError::SpawnerGone)?
    }
}

/// Runs on the spawner thread, inside the runtime context.
fn start(spec: SpawnSpec, cgroups: bool) -> Result<Process, RuntimeError> {
    let program = resolve_program(&spec)?;
    let containment = Arc::new(Containment::prepare(cgroups));
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(&spec.env)
        .envs(containment.marker())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(procs) = containment.cgroup_procs() {
        join_cgroup(&mut command, procs.to_owned());
    }
    die_with_parent(&mut command);

    // Held across the fork so the orphan reaper never sees the new group
    // leader as an untracked zombie.
    let mut tracked = reaper::tracked();
    let spawned = command.spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(source) => {
            drop(tracked);
            containment.end_now();
            return Err(RuntimeError::Spawn {
                program: spec.program.clone(),
                source,
            });
        }
    };
    let pid = child.id().expect("a child that was not awaited has a pid");
    tracked.insert(pid);
    drop(tracked);
    let start_time = procfs::stat(pid).map(|s| s.start_time);
    containment.attach(pid, start_time.unwrap_or(0));

    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let logs = Arc::new(LogState::default());
    let drained = logs::capture(stdout, stderr, spec.log_sink, logs.clone());
    let (status_tx, status_rx) = watch::channel(None);
    let contained = containment.clone();
    tokio::spawn(async move {
        let waited = if contained.needs_tracking() {
            // first soon after the start, when helpers are typically forked
            let first = tokio::time::Instant::now() + Duration::from_millis(100);
            let mut tick = tokio::time::interval_at(first, TRACK_INTERVAL);
            loop {
                tokio::select! {
                    waited = child.wait() => break waited,
                    _ = tick.tick() => contained.track(),
                }
            }
        } else {
            child.wait().await
        };
        let status = waited.unwrap_or_else(|error| {
            tracing::warn!(pid, %error, "cannot wait for plugin process");
            ExitStatus::from_raw(libc::SIGKILL)
        });
        // What is left of the group, and every other descendant, dies with its leader.
        signal_group(pid, Signal::SIGKILL);
        reaper::untrack(pid);
        contained.end().await;
        let _ = tokio::time::timeout(DRAIN_GRACE, drained).await;
        status_tx.send_replace(Some(status));
    });
    Ok(Process::new(pid, start_time, status_rx, logs, containment))
}

/// A program containing `/` is a path relative to `cwd` (or absolute); a bare
/// name is an executable file in `cwd` if there is one, else it is looked up
/// on the `PATH` of the plugin's environment, not Core's. The answer is
/// absolute, since the child resolves a relative one after changing to `cwd`.
fn resolve_program(spec: &SpawnSpec) -> Result<PathBuf, RuntimeError> {
    let not_found = || RuntimeError::NotFound {
        program: spec.program.clone(),
    };
    let absolute = |path: PathBuf| std::path::absolute(&path).map_err(|_| not_found());
    if spec.program.contains('/') {
        return absolute(spec.cwd.join(&spec.program));
    }
    if spec.program.is_empty() {
        return Err(not_found());
    }
    let beside = spec.cwd.join(&spec.program);
    if is_executable(&beside) {
        return absolute(beside);
    }
    let path = spec.env.get("PATH").ok_or_else(not_found)?;
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| spec.cwd.join(dir).join(&spec.program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(not_found)
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Moves the child into its cgroup before it can run (or fork) anything.
#[allow(unsafe_code)]
fn join_cgroup(command: &mut tokio::process::Command, procs: CString) {
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe functions may be used: `cgroup::join` only opens,
    // writes and closes, on the C string prepared here before the fork.
    unsafe {
        command.pre_exec(move || cgroup::join(&procs));
    }
}

/// Makes the child die with Core: `SIGKILL` when the spawner thread (which
/// lives as long as Core) goes away, and exit at once if Core is already gone.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut tokio::process::Command) {
    let parent = libc::pid_t::try_from(std::process::id()).expect("pids fit in pid_t");
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe functions may be used. It calls only prctl, getppid
    // and _exit (all async-signal-safe), reads errno, and does not allocate.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // Core died between fork and prctl: the signal will never come.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
