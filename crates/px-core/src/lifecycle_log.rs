//! Core's own log of what happens to plugins: one line per lifecycle event
//! (target `px_core::lifecycle`, phases at `debug`), so the terminal running
//! `powerx serve` shows installs, reloads, rollbacks and crashes as they
//! happen. `PX_LOG` / `RUST_LOG` (e.g. `px_core::lifecycle=warn`) or
//! `powerx serve --quiet` tune it.

use std::sync::Arc;

use px_api::{Level, LifecycleEvent, LogMessage, MessageKind};
use tokio::sync::broadcast::error::RecvError;

use crate::events::EventBus;

/// Logs every lifecycle event published on `bus` until it closes.
pub fn spawn(bus: &Arc<EventBus>) -> tokio::task::JoinHandle<()> {
    let mut messages = bus.subscribe();
    tokio::spawn(async move {
        loop {
            match messages.recv().await {
                Ok(message) if message.kind == MessageKind::Event => log(&message),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => tracing::warn!(
                    target: "px_core::lifecycle",
                    "{missed} messages went by while Core was busy; some events are not in this log"
                ),
                Err(RecvError::Closed) => return,
            }
        }
    })
}

fn log(message: &LogMessage) {
    let event = message.data.as_ref().map_or("", LifecycleEvent::name);
    let revision = message
        .revision
        .map(|r| format!(" r{r}"))
        .unwrap_or_default();
    let line = format!(
        "{}{revision} {event}: {}",
        message.plugin_id, message.message
    );
    if matches!(message.data, Some(LifecycleEvent::InstallPhase { .. })) {
        tracing::debug!(target: "px_core::lifecycle", "{line}");
        return;
    }
    match message.level {
        Level::Info => tracing::info!(target: "px_core::lifecycle", "{line}"),
        Level::Warn => tracing::warn!(target: "px_core::lifecycle", "{line}"),
        Level::Error => tracing::error!(target: "px_core::lifecycle", "{line}"),
    }
}
