//! Starting processes from one dedicated, never-exiting thread.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not
//! the process. Spawning from a tokio blocking-pool thread (which exits after
//! ~10 s idle) would therefore kill plugins shortly after they start. All
//! spawns go through one `std::thread` that lives as long as the process.

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

use crate::logs::{self, LogState};
use crate::process::{Process, signal_group};
use crate::{RuntimeError, SpawnSpec, reaper};

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
    requests: mpsc::Sender<(SpawnSpec, Reply)>,
}

impl Default for Spawner {
    /// Same as [`Spawner::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Spawner {
    /// A spawner whose processes are awaited on the current tokio runtime.
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
        let (requests, inbox) = mpsc::channel::<(SpawnSpec, Reply)>();
        std::thread::Builder::new()
            .name("px-runtime-spawner".into())
            .spawn(move || {
                let _runtime = handle.enter();
                for (spec, reply) in inbox {
                    // a panic must not end this thread (see above)
                    let started = std::panic::catch_unwind(AssertUnwindSafe(|| start(spec)))
                        .unwrap_or(Err(RuntimeError::SpawnerGone));
                    let _ = reply.send(started);
                }
                // Never exit: see the type's documentation.
                loop {
                    std::thread::park();
                }
            })
            .expect("cannot create the px-runtime spawner thread");
        Self { requests }
    }

    /// Starts `spec.program` with exactly `spec.env`, in `spec.cwd`, in a new
    /// process group, with stdin from `/dev/null`, stdout and stderr captured
    /// into `spec.log_sink`, and `SIGKILL` delivered to it if Core dies.
    pub async fn spawn(&self, spec: SpawnSpec) -> Result<Process, RuntimeError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((spec, reply))
            .map_err(|_| RuntimeError::SpawnerGone)?;
        answer.await.map_err(|_| RuntimeError::SpawnerGone)?
    }
}

/// Runs on the spawner thread, inside the runtime context.
fn start(spec: SpawnSpec) -> Result<Process, RuntimeError> {
    let program = resolve_program(&spec)?;
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    die_with_parent(&mut command);

    // Held across the fork so the orphan reaper never sees the new group
    // leader as an untracked zombie.
    let mut tracked = reaper::tracked();
    let mut child = command.spawn().map_err(|source| RuntimeError::Spawn {
        program: spec.program.clone(),
        source,
    })?;
    let pid = child.id().expect("a child that was not awaited has a pid");
    tracked.insert(pid);
    drop(tracked);

    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let logs = Arc::new(LogState::default());
    let drained = logs::capture(stdout, stderr, spec.log_sink, logs.clone());
    let (status_tx, status_rx) = watch::channel(None);
    tokio::spawn(async move {
        let status = child.wait().await.unwrap_or_else(|error| {
            tracing::warn!(pid, %error, "cannot wait for plugin process");
            ExitStatus::from_raw(libc::SIGKILL)
        });
        // What is left of the group dies with its leader.
        signal_group(pid, Signal::SIGKILL);
        reaper::untrack(pid);
        let _ = tokio::time::timeout(DRAIN_GRACE, drained).await;
        status_tx.send_replace(Some(status));
    });
    Ok(Process::new(pid, status_rx, logs))
}

/// A program containing `/` is a path relative to `cwd` (or absolute); a bare
/// name is looked up on the `PATH` of the plugin's environment, not Core's.
fn resolve_program(spec: &SpawnSpec) -> Result<PathBuf, RuntimeError> {
    if spec.program.contains('/') {
        return Ok(spec.cwd.join(&spec.program));
    }
    let not_found = || RuntimeError::NotFound {
        program: spec.program.clone(),
    };
    if spec.program.is_empty() {
        return Err(not_found());
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
