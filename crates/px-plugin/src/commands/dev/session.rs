//! The dev session: one task that owns the state (running build, install in
//! flight, pending changes) and reacts to messages from the watcher, the
//! build, the install request and the `plugin.dev.logs` follower.
//!
//! Ordering rules: one build at a time (a newer change cancels it); a build
//! may start once Core has received the install in flight (its
//! `install.started` event arrived, or its report), so `dist/` never changes
//! under Core's feet; one install request at a time (Core serializes them
//! anyway), a finished build waits for the previous report.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use px_api::{
    InstallReport, LifecycleEvent, LogMessage, MessageKind, Phase, PhaseReport, ServerControl,
    ServerMessage,
};
use reqwest::StatusCode;
use tokio::sync::{mpsc, oneshot};

use super::build::{BuildEnd, Built, build};
use super::render::Render;
use super::{Dev, stop_signal, watch};
use crate::cli::Global;
use crate::client::CoreClient;
use crate::client::ws::{FollowCommand, Followed, follow};
use crate::commands::install::{self, Mode};
use crate::commands::uninstall::local_id;

/// Longest wait for the log stream before the first install goes ahead anyway.
const FIRST_CONNECT: Duration = Duration::from_secs(3);

/// What the session task hears about.
enum Input {
    /// Files changed (time of the first change).
    Changed(Instant),
    /// A build ended.
    Built(BuildEnd),
    /// An install request got its answer.
    Installed(anyhow::Result<(StatusCode, InstallReport)>),
}

struct RunningBuild {
    /// When the changes it builds were made.
    trigger: Instant,
    cancel: Option<oneshot::Sender<()>>,
}

struct Inflight {
    trigger: Instant,
    /// Learned from the `install.started` event that followed our request.
    install_id: Option<String>,
    received: bool,
    revision: Option<u64>,
    phases: Vec<PhaseReport>,
    live_printed: bool,
}

struct Session {
    dir: PathBuf,
    core: CoreClient,
    mode: Option<Mode>,
    render: Render,
    tx: mpsc::UnboundedSender<Input>,
    follow: mpsc::UnboundedSender<FollowCommand>,
    plugin_id: Option<String>,
    build: Option<RunningBuild>,
    dirty: Option<Instant>,
    ready: Option<(Built, Instant)>,
    inflight: Option<Inflight>,
    last_hash: Option<String>,
    /// Our recent installs, whose late events are not shown again.
    own: std::collections::VecDeque<String>,
}

/// Runs a dev session until Ctrl-C.
pub async fn run(dev: Dev, global: &Global) -> anyhow::Result<()> {
    let core = CoreClient::from_global(global)?;
    let render = Render { json: global.json };
    let health = core.health().await?;
    if !health.dev_mode {
        anyhow::bail!(
            "core at {} runs without dev mode: start it with `powerx serve --dev`",
            core.url()
        );
    }
    let dir = std::path::absolute(&dev.dir)
        .with_context(|| format!("resolving {}", dev.dir.display()))?;
    let plugin_id = local_id(&dir).ok();
    let (follow_tx, mut followed) = follow(core.clone(), plugin_id.clone(), None);
    let (tx, mut inputs) = mpsc::unbounded_channel();
    let _watcher = if dev.watch {
        let tx = tx.clone();
        Some(watch::watch(&dir, move |at| {
            let _ = tx.send(Input::Changed(at));
        })?)
    } else {
        None
    };
    if plugin_id.is_some() {
        let deadline = tokio::time::sleep(FIRST_CONNECT);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                item = followed.recv() => match item {
                    Some(Followed::Connected) | None => break,
                    Some(Followed::Lost(why)) => { render.note(&format!("log stream: {why}")); break }
                    Some(Followed::Message(_)) => {}
                },
                _ = &mut deadline => break,
            }
        }
    }
    let mut session = Session {
        dir,
        core,
        mode: dev.mode,
        render,
        tx,
        follow: follow_tx,
        plugin_id,
        build: None,
        dirty: Some(Instant::now()),
        ready: None,
        inflight: None,
        last_hash: None,
        own: std::collections::VecDeque::new(),
    };
    if !global.json {
        let watching = if dev.watch {
            ", watching for changes"
        } else {
            ""
        };
        session.render.note(&format!(
            "dev session for {} against {}{watching} (Ctrl-C stops)",
            session.dir.display(),
            session.core.url()
        ));
    }
    session.maybe_build();
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            Some(input) = inputs.recv() => match input {
                Input::Changed(at) => session.on_changed(at),
                Input::Built(end) => session.on_built(end),
                Input::Installed(result) => session.on_installed(result),
            },
            Some(item) = followed.recv() => session.on_followed(item),
            _ = &mut stop => break,
        }
    }
    session.stop(dev.uninstall_on_exit).await;
    Ok(())
}

impl Session {
    fn on_changed(&mut self, at: Instant) {
        self.mark_dirty(at);
        if let Some((_, trigger)) = self.ready.take() {
            self.mark_dirty(trigger);
        }
        if let Some(running) = &mut self.build
            && let Some(cancel) = running.cancel.take()
        {
            let _ = cancel.send(());
            let trigger = running.trigger;
            self.mark_dirty(trigger);
        }
        self.maybe_build();
    }

    fn mark_dirty(&mut self, at: Instant) {
        self.dirty = Some(self.dirty.map_or(at, |d| d.min(at)));
    }

    /// Starts a build when changes wait, none runs, and Core has read `dist/`.
    fn maybe_build(&mut self) {
        if self.build.is_some() || self.inflight.as_ref().is_some_and(|i| !i.received) {
            return;
        }
        let Some(trigger) = self.dirty.take() else {
            return;
        };
        let (cancel, cancelled) = oneshot::channel();
        self.build = Some(RunningBuild {
            trigger,
            cancel: Some(cancel),
        });
        let tx = self.tx.clone();
        let dir = self.dir.clone();
        let previous = self.last_hash.clone();
        tokio::spawn(async move {
            let end = build(dir, previous, cancelled).await;
            let _ = tx.send(Input::Built(end));
        });
    }

    fn on_built(&mut self, end: BuildEnd) {
        let Some(running) = self.build.take() else {
            return;
        };
        match end {
            BuildEnd::Cancelled | BuildEnd::Unchanged => {}
            BuildEnd::Failed {
                hash,
                message,
                output,
            } => {
                self.last_hash = hash;
                self.render.build_failed(&message, &output);
            }
            BuildEnd::Built(built, hash) => {
                self.last_hash = Some(hash);
                if self.plugin_id.as_deref() != Some(built.plugin_id.as_str()) {
                    self.plugin_id = Some(built.plugin_id.clone());
                    let _ = self
                        .follow
                        .send(FollowCommand::Plugin(built.plugin_id.clone()));
                }
                if self.inflight.is_none() {
                    self.install(built, running.trigger);
                } else {
                    self.ready = Some((built, running.trigger));
                }
            }
        }
        self.maybe_build();
    }

    fn install(&mut self, built: Built, trigger: Instant) {
        self.inflight = Some(Inflight {
            trigger,
            install_id: None,
            received: false,
            revision: None,
            phases: Vec::new(),
            live_printed: false,
        });
        let core = self.core.clone();
        let mode = self.mode;
        let tx = self.tx.clone();
        let render = self.render;
        tokio::spawn(async move {
            let mut note = |text: String| render.note(&text);
            let result = install::send(&core, &built.artifact, mode, &mut note).await;
            let _ = tx.send(Input::Installed(result));
        });
    }

    fn on_installed(&mut self, result: anyhow::Result<(StatusCode, InstallReport)>) {
        let Some(inflight) = self.inflight.take() else {
            return;
        };
        match result {
            Ok((_, report)) => {
                self.remember(report.install_id.clone());
                self.render
                    .report(&report, inflight.live_printed, inflight.trigger.elapsed());
            }
            Err(err) => self.render.install_error(&err),
        }
        if let Some((built, trigger)) = self.ready.take() {
            self.install(built, trigger);
        }
        self.maybe_build();
    }

    fn on_followed(&mut self, item: Followed) {
        match item {
            Followed::Message(ServerMessage::Log(message)) => self.on_message(*message),
            Followed::Message(ServerMessage::Control(ServerControl::Missed { count })) => {
                self.render.note(&format!(
                    "missed {count} log messages (this terminal was too slow)"
                ));
            }
            Followed::Message(ServerMessage::Control(_)) => {}
            Followed::Lost(why) => self
                .render
                .note(&format!("log stream: {why}; reconnecting")),
            Followed::Connected => {}
        }
    }

    fn on_message(&mut self, message: LogMessage) {
        if self.plugin_id.as_deref() != Some(message.plugin_id.as_str()) {
            return;
        }
        if message.kind == MessageKind::Log {
            self.render.message(&message);
            return;
        }
        let Some(event) = message.data.clone() else {
            return;
        };
        let Some(inflight) = self.inflight.as_mut() else {
            return self.other_event(&message, &event);
        };
        if inflight.install_id.is_none() && event == LifecycleEvent::InstallStarted {
            inflight.install_id = message.install_id.clone();
            inflight.received = true;
        }
        if message.install_id.is_none() || inflight.install_id != message.install_id {
            return self.other_event(&message, &event);
        }
        if let LifecycleEvent::InstallPhase { ms, ok } = event
            && let Some(phase) = message.phase
        {
            inflight.revision = message.revision.or(inflight.revision);
            inflight.phases.push(PhaseReport {
                name: phase,
                ms,
                ok,
            });
            if phase == Phase::Swap && ok && !inflight.live_printed {
                inflight.live_printed = true;
                self.render.live(
                    &message.plugin_id,
                    inflight.revision,
                    inflight.trigger.elapsed(),
                    &inflight.phases,
                    message.install_id.as_deref(),
                );
            }
        }
        self.maybe_build();
    }

    fn remember(&mut self, install_id: String) {
        if self.own.len() == 8 {
            self.own.pop_front();
        }
        self.own.push_back(install_id);
    }

    /// Events not caused by the install in flight: crashes, restarts, other
    /// clients' installs (late events of our own earlier ones are dropped).
    fn other_event(&self, message: &LogMessage, event: &LifecycleEvent) {
        let ours = message
            .install_id
            .as_ref()
            .is_some_and(|id| self.own.contains(id));
        if !ours && !matches!(event, LifecycleEvent::InstallPhase { .. }) {
            self.render.message(message);
        }
    }

    async fn stop(mut self, uninstall: bool) {
        if let Some(running) = &mut self.build
            && let Some(cancel) = running.cancel.take()
        {
            let _ = cancel.send(());
        }
        let _ = self.follow.send(FollowCommand::Stop);
        if uninstall && let Some(id) = &self.plugin_id {
            match tokio::time::timeout(Duration::from_secs(30), self.core.uninstall(id)).await {
                Ok(Ok(())) => self.render.note(&format!("uninstalled {id}")),
                Ok(Err(err)) => self
                    .render
                    .install_error(&err.context(format!("uninstalling {id}"))),
                Err(_) => self
                    .render
                    .note(&format!("gave up uninstalling {id} after 30 s")),
            }
        }
        // give the build a moment to be killed, and the socket to close
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.render.note("stopped");
    }
}
