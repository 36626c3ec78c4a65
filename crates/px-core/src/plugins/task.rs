//! One task per plugin, the only owner of everything about it: its current
//! and stable-to-be revisions, their processes, its state, its restart and
//! crash counts, and a pending restart. The rest of Core sends it messages
//! ([`Msg`]) and reads what it publishes: the lock-free [`Route`] the proxy
//! follows and a [`View`] snapshot for the API and Admin.
//!
//! Messages are handled one at a time, so a plugin's installs, rollbacks,
//! follows, restarts and uninstall never overlap; different plugins' tasks
//! run in parallel. Invariants the task keeps after every message:
//! - the route points at the current revision or nowhere, never at a stopped one;
//! - at most one revision is current; an old one is drained and stopped once
//!   the new one has gone live (SPEC §3.3);
//! - the published view is what the task holds.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use px_api::{PluginState, Reason, ReasonCode};
use tokio::sync::{mpsc, oneshot};

use super::Manager;
use super::install::InstallJob;
use super::route::Route;
use super::run::{Failure, FailureKind, Run};
use super::running::{Plugin, Running, Target};

/// An install or rollback's answer: the run (with its phases) and how it ended.
pub(crate) type Ran = (Run, Result<(), Failure>);

/// What a plugin's task is asked to do.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Resolve, stage, migrate and bring a validated revision live.
    Install {
        job: Box<InstallJob>,
        run: Run,
        reply: oneshot::Sender<Ran>,
    },
    /// Bring the stable revision (or `revision`) back live.
    Rollback {
        revision: Option<u64>,
        run: Run,
        reply: oneshot::Sender<Option<Ran>>,
    },
    /// Bring this Core's instance in line with the database (other Cores changed it).
    Follow,
    /// Start the stable revision after Core started.
    Recover(Target),
    /// The watcher of instance `serial` saw it exit or fail its probes.
    Failed { serial: u64, reason: Reason },
    /// Stop everything and forget the plugin; `false` when it was gone already.
    Uninstall {
        reply: oneshot::Sender<anyhow::Result<bool>>,
    },
    /// Stop the processes (Core is stopping).
    Shutdown { reply: oneshot::Sender<()> },
}

/// Why a message was not handled by a task.
#[derive(Debug)]
pub(crate) enum Refusal {
    Unknown,
    ShuttingDown,
    Internal(anyhow::Error),
}

impl Msg {
    /// Answers a message no task will handle.
    pub(crate) fn refuse(self, why: Refusal) {
        let failure = || match &why {
            Refusal::Unknown => Failure::bad_request("the plugin is not installed"),
            Refusal::ShuttingDown => Failure::new(
                FailureKind::Internal,
                ReasonCode::Internal,
                "Core is shutting down",
            ),
            Refusal::Internal(error) => Failure::internal(error),
        };
        match self {
            Msg::Install { run, reply, .. } => {
                let _ = reply.send((run, Err(failure())));
            }
            Msg::Rollback { run, reply, .. } => {
                let answer = match why {
                    Refusal::Unknown => None,
                    _ => Some((run, Err(failure()))),
                };
                let _ = reply.send(answer);
            }
            Msg::Uninstall { reply } => {
                let _ = reply.send(match why {
                    Refusal::Unknown => Ok(false),
                    _ => Err(anyhow::anyhow!("{}", failure().message)),
                });
            }
            Msg::Shutdown { reply } => {
                let _ = reply.send(());
            }
            Msg::Follow | Msg::Recover(_) | Msg::Failed { .. } => {}
        }
    }
}

/// What the rest of Core holds of a plugin.
#[derive(Debug)]
pub(crate) struct Handle {
    pub id: String,
    pub route: Arc<Route>,
    view: Arc<ArcSwap<View>>,
    mailbox: mpsc::UnboundedSender<Msg>,
}

/// A snapshot of a plugin's task, replaced whenever it changes.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub state: PluginState,
    pub restarts: u32,
    /// The instance the route points to, or pointed to before it crashed.
    pub current: Option<Arc<Running>>,
}

impl Handle {
    /// What the task holds now.
    pub(crate) fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// Queues `msg`; gives it back when the task has ended.
    pub(crate) fn send(&self, msg: Msg) -> Result<(), Box<Msg>> {
        self.mailbox.send(msg).map_err(|e| Box::new(e.0))
    }
}

/// A restart waiting for its backoff.
#[derive(Debug)]
struct Restart {
    at: tokio::time::Instant,
    target: Target,
}

/// Whether the task goes on after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Continue,
    /// The plugin is gone from this Core (uninstalled, never staged) or Core stops.
    End,
}

/// The task of one plugin. Only its own methods change its fields.
#[derive(Debug)]
pub(crate) struct PluginTask {
    pub m: Arc<Manager>,
    pub plugin: Plugin,
    route: Arc<Route>,
    view: Arc<ArcSwap<View>>,
    /// Its own mailbox, for the watchers it starts.
    mailbox: mpsc::UnboundedSender<Msg>,
    current: Option<Arc<Running>>,
    state: PluginState,
    restarts: u32,
    /// When the stable revision crashed or failed liveness, newest last;
    /// only those within the liveness window are kept. Sets the restart
    /// backoff and the `crash_loop` limit; cleared when a new revision goes live.
    crashes: VecDeque<Instant>,
    restart: Option<Restart>,
    serials: u64,
}

impl PluginTask {
    /// Starts the task of `plugin`; its handle is what the registry keeps.
    pub(crate) fn spawn(m: Arc<Manager>, plugin: Plugin, state: PluginState) -> Arc<Handle> {
        let (mailbox, inbox) = mpsc::unbounded_channel();
        let view = Arc::new(ArcSwap::from_pointee(View {
            state,
            restarts: 0,
            current: None,
        }));
        let route = Arc::new(Route::default());
        let handle = Arc::new(Handle {
            id: plugin.id.clone(),
            route: route.clone(),
            view: view.clone(),
            mailbox: mailbox.clone(),
        });
        let task = PluginTask {
            m,
            plugin,
            route,
            view,
            mailbox,
            current: None,
            state,
            restarts: 0,
            crashes: VecDeque::new(),
            restart: None,
            serials: 0,
        };
        tokio::spawn(task.run(inbox));
        handle
    }

    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let restart_at = self.restart.as_ref().map(|r| r.at);
            let far = tokio::time::Instant::now() + std::time::Duration::from_secs(86_400);
            let msg = tokio::select! {
                msg = inbox.recv() => msg,
                () = tokio::time::sleep_until(restart_at.unwrap_or(far)), if restart_at.is_some() => {
                    self.restart_now().await;
                    continue;
                }
            };
            let Some(msg) = msg else { break };
            if self.handle(msg).await == Next::End {
                break;
            }
        }
        // Whatever was queued behind the end goes to the plugin's next task
        // (an install after an uninstall) or is answered as unknown.
        self.leave();
        inbox.close();
        while let Some(msg) = inbox.recv().await {
            if matches!(msg, Msg::Install { .. }) {
                let id = self.plugin.id.clone();
                let m = self.m.clone();
                tokio::spawn(async move { m.deliver(&id, msg, true).await });
            } else {
                msg.refuse(Refusal::Unknown);
            }
        }
    }

    async fn handle(&mut self, msg: Msg) -> Next {
        match msg {
            Msg::Install {
                job,
                mut run,
                reply,
            } => {
                let (result, next) = self.install(&mut run, job).await;
                if next == Next::End {
                    self.leave();
                }
                let live = result.is_ok();
                let _ = reply.send((run, result));
                if live {
                    self.prune().await;
                }
                next
            }
            Msg::Rollback {
                revision,
                mut run,
                reply,
            } => {
                let result = self.rollback(&mut run, revision).await;
                let live = result.is_ok();
                let _ = reply.send(Some((run, result)));
                if live {
                    self.prune().await;
                }
                Next::Continue
            }
            Msg::Follow => match self.follow().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(plugin = %self.plugin.id, "cannot follow the other Cores: {error:#}");
                    Next::Continue
                }
            },
            Msg::Recover(target) => {
                self.recover(target).await;
                Next::Continue
            }
            Msg::Failed { serial, reason } => {
                self.failed(serial, reason).await;
                Next::Continue
            }
            Msg::Uninstall { reply } => {
                let result = self.uninstall().await;
                let gone = matches!(result, Ok(true));
                if gone {
                    self.leave();
                }
                let _ = reply.send(result);
                if gone { Next::End } else { Next::Continue }
            }
            Msg::Shutdown { reply } => {
                self.shutdown().await;
                let _ = reply.send(());
                Next::End
            }
        }
    }

    /// Removes this task's handle from the registry.
    fn leave(&self) {
        self.m.remove_handle(&self.plugin.id, &self.route);
    }

    /// Publishes what the task holds to the view.
    fn publish(&self) {
        self.view.store(Arc::new(View {
            state: self.state,
            restarts: self.restarts,
            current: self.current.clone(),
        }));
    }

    pub(crate) fn current(&self) -> Option<&Arc<Running>> {
        self.current.as_ref()
    }

    pub(crate) fn set_state(&mut self, state: PluginState) {
        self.state = state;
        self.publish();
    }

    /// Makes `running` current; traffic goes to it when `routed`, else nowhere.
    pub(crate) fn set_current(&mut self, running: Option<Arc<Running>>, routed: bool) {
        let backend = running
            .as_ref()
            .filter(|_| routed)
            .map(|r| r.backend.clone());
        self.route.point(backend);
        self.current = running;
        self.publish();
    }

    /// A fresh serial for an instance about to start.
    pub(crate) fn next_serial(&mut self) -> u64 {
        self.serials += 1;
        self.serials
    }

    /// A sender to this task's own mailbox (for its watchers).
    pub(crate) fn mailbox(&self) -> mpsc::UnboundedSender<Msg> {
        self.mailbox.clone()
    }

    /// After a failed install: rolled back when a revision still serves,
    /// restarting when the crashed stable one has a restart pending, still
    /// in `crash_loop` when it was, else failed.
    pub(crate) fn settle_failed(&mut self) {
        let serving = self.current.as_ref().is_some_and(|r| r.is_alive());
        self.set_state(if serving {
            PluginState::RolledBack
        } else if self.restart.is_some() {
            PluginState::Restarting
        } else if self.state == PluginState::CrashLoop {
            PluginState::CrashLoop
        } else {
            PluginState::Failed
        });
    }

    /// Restarts and crashes start over (a new revision went live).
    pub(crate) fn went_live(&mut self) {
        self.restarts = 0;
        self.crashes.clear();
        self.restart = None;
        self.set_state(PluginState::Active);
    }

    /// A restart went live.
    pub(crate) fn restarted(&mut self) -> u32 {
        self.restarts += 1;
        self.restart = None;
        self.set_state(PluginState::Active);
        self.restarts
    }

    pub(crate) fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Records a crash now and returns how many fell within `window`.
    pub(crate) fn note_crash_at(&mut self, window: std::time::Duration) -> u32 {
        let now = Instant::now();
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.crashes.pop_front();
        }
        self.crashes.push_back(now);
        u32::try_from(self.crashes.len()).unwrap_or(u32::MAX)
    }

    /// Starts `target` again after `wait`.
    pub(crate) fn schedule_restart(&mut self, target: Target, wait: std::time::Duration) {
        self.restart = Some(Restart {
            at: tokio::time::Instant::now() + wait,
            target,
        });
    }

    /// Takes the pending restart, if any.
    pub(crate) fn take_restart(&mut self) -> Option<Target> {
        self.restart.take().map(|r| r.target)
    }

    /// No more restarts (`crash_loop`, uninstall).
    pub(crate) fn cancel_restart(&mut self) {
        self.restart = None;
    }
}
