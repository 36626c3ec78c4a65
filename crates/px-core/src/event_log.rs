//! The `plugin.dev.logs` stream kept on disk (SPEC §3.6, last paragraph).
//!
//! A background task subscribes to the [`EventBus`] like any WebSocket client
//! and writes what it receives to the store in batches (one transaction per
//! batch). Publishing never waits for it: when the task falls behind by more
//! than the bus's live buffer, `broadcast` drops the oldest messages for it,
//! and the task counts them in [`EventLog::dropped`]. Every few hundred rows
//! of a plugin it trims that plugin to [`Bounds`]; [`crate::retention`]
//! deletes what is older than `audit.retention_days`.
//!
//! Reading merges the store with the bus's in-memory ring, so a message is
//! visible the moment it is published, and yesterday's after a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use px_api::LogMessage;
use tokio::sync::{broadcast, oneshot};

use crate::events::EventBus;
use crate::store::Store;
use crate::store::events::EventQuery;

/// Most messages one read returns.
pub const MAX_TAIL: usize = 10_000;

/// Messages written per transaction at most.
const MAX_BATCH: usize = 2_000;

/// How much of one plugin's stream is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Newest rows kept per plugin.
    pub max_rows: u64,
    /// Newest bytes kept per plugin (message, data and a fixed row overhead).
    pub max_bytes: u64,
    /// Rows of one plugin written between two trims of it.
    pub trim_every: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_rows: 100_000,
            max_bytes: 32 << 20,
            trim_every: 500,
        }
    }
}

/// The writer's handle: counters, the reader, and a clean stop.
#[derive(Debug)]
pub struct EventLog {
    store: Store,
    bus: Arc<EventBus>,
    /// Names this Core process in the rows it writes.
    core_id: String,
    /// Highest `seq` handled by the writer (written or dropped).
    handled: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    stop: std::sync::Mutex<Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
}

/// Filters of [`EventLog::read`] (the query of `GET /api/plugins/{id}/logs`).
#[derive(Debug, Clone, Default)]
pub struct ReadQuery {
    /// Only messages at or after (epoch ms).
    pub since: Option<i64>,
    /// Only messages before (epoch ms).
    pub until: Option<i64>,
    /// Only messages of this install.
    pub install_id: Option<String>,
    /// Only messages with a greater `seq`.
    pub after_seq: Option<u64>,
    /// At most this many of the newest matching messages.
    pub tail: usize,
}

impl EventLog {
    /// Subscribes to `bus` now (nothing published after this call is missed
    /// unless the writer falls behind) and starts the writer.
    pub fn spawn(store: Store, bus: Arc<EventBus>, bounds: Bounds) -> Arc<EventLog> {
        let receiver = bus.subscribe();
        let log = Arc::new(EventLog {
            store,
            bus,
            core_id: uuid::Uuid::now_v7().to_string(),
            handled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            stop: std::sync::Mutex::new(None),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(write_loop(log.clone(), receiver, stop_rx, bounds));
        *log.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some((stop_tx, task));
        log
    }

    /// Messages that never reached the disk (the writer fell behind or a write failed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Messages written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes what is queued, then stops the writer (Core is stopping).
    pub async fn stop(&self) {
        let taken = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((stop, task)) = taken {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// The newest `query.tail` messages of plugin `id` that match, oldest
    /// first: kept ones from the store plus those still on their way to it.
    pub async fn read(&self, id: &str, query: &ReadQuery) -> anyhow::Result<Vec<LogMessage>> {
        // Read the mark first: rows this Core wrote above it come from memory.
        let handled = self.handled.load(Ordering::Acquire);
        let mut messages = self
            .store
            .events(&EventQuery {
                plugin_id: id.to_owned(),
                since: query.since,
                until: query.until,
                install_id: query.install_id.clone(),
                after_seq: query.after_seq,
                skip_newer_of: Some((self.core_id.clone(), handled)),
                limit: query.tail,
            })
            .await?;
        let pending = self
            .bus
            .backfill(id, handled.max(query.after_seq.unwrap_or(0)))
            .into_iter()
            .filter(|m| {
                query.since.is_none_or(|since| m.ts >= since)
                    && query.until.is_none_or(|until| m.ts < until)
                    && (query.install_id.is_none() || m.install_id == query.install_id)
            });
        messages.extend(pending);
        messages.sort_by_key(|m| (m.ts, m.seq));
        messages.drain(..messages.len().saturating_sub(query.tail));
        Ok(messages)
    }

    /// Whether anything of plugin `id` is kept on disk or in memory.
    pub async fn knows(&self, id: &str) -> anyhow::Result<bool> {
        Ok(!self.bus.tail(id, 1).is_empty() || self.store.events_exist(id).await?)
    }

    fn handled_up_to(&self, seq: u64) {
        self.handled.fetch_max(seq, Ordering::Release);
    }
}

async fn write_loop(
    log: Arc<EventLog>,
    mut receiver: broadcast::Receiver<LogMessage>,
    mut stop: oneshot::Receiver<()>,
    bounds: Bounds,
) {
    let mut since_trim: HashMap<String, u64> = HashMap::new();
    loop {
        let mut batch = Vec::new();
        let stopping = tokio::select! {
            received = receiver.recv() => match received {
                Ok(message) => {
                    batch.push(message);
                    false
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    count_dropped(&log, missed);
                    false
                }
                Err(broadcast::error::RecvError::Closed) => true,
            },
            _ = &mut stop => true,
        };
        drain(&log, &mut receiver, &mut batch);
        write(&log, &batch, &mut since_trim, bounds).await;
        if stopping {
            // Everything queued so far, then done.
            loop {
                let mut rest = Vec::new();
                drain(&log, &mut receiver, &mut rest);
                if rest.is_empty() {
                    return;
                }
                write(&log, &rest, &mut since_trim, bounds).await;
            }
        }
    }
}

/// Takes what is already queued, up to [`MAX_BATCH`].
fn drain(
    log: &EventLog,
    receiver: &mut broadcast::Receiver<LogMessage>,
    batch: &mut Vec<LogMessage>,
) {
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(message) => batch.push(message),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => count_dropped(log, missed),
            Err(_) => break,
        }
    }
}

fn count_dropped(log: &EventLog, missed: u64) {
    log.dropped.fetch_add(missed, Ordering::Relaxed);
    tracing::warn!("event log fell behind: {missed} messages not kept on disk");
}

async fn write(
    log: &EventLog,
    batch: &[LogMessage],
    since_trim: &mut HashMap<String, u64>,
    bounds: Bounds,
) {
    let Some(last) = batch.last() else {
        return;
    };
    match log.store.events_insert(&log.core_id, batch).await {
        Ok(()) => {
            log.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        Err(error) => {
            log.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::warn!(
                "event log: {} messages not kept on disk: {error:#}",
                batch.len()
            );
        }
    }
    log.handled_up_to(last.seq);
    for message in batch {
        *since_trim.entry(message.plugin_id.clone()).or_default() += 1;
    }
    let due: Vec<String> = since_trim
        .iter()
        .filter(|(_, n)| **n >= bounds.trim_every)
        .map(|(id, _)| id.clone())
        .collect();
    for id in due {
        since_trim.remove(&id);
        if let Err(error) = log
            .store
            .events_trim(&id, bounds.max_rows, bounds.max_bytes)
            .await
        {
            tracing::warn!("event log: trimming {id}: {error:#}");
        }
    }
}
