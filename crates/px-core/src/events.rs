//! The event bus behind the `plugin.dev.logs` channel (SPEC §3.4): plugin log
//! lines and lifecycle events, each with a Core-wide increasing `seq`.
//!
//! Every message goes into a bounded ring per plugin (for `since` backfill and
//! `?tail=N`) and to a `tokio::sync::broadcast` channel for live subscribers.
//! Publishing never waits: the ring drops its oldest line, and a subscriber
//! that falls behind is told by `broadcast` how many messages it missed.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use px_api::{
    LOGS_CHANNEL, Level, LifecycleEvent, LogMessage, MessageKind, MessageStream, Phase, ProcessRole,
};
use tokio::sync::broadcast;

/// Messages kept per plugin for backfill.
pub const RING_CAPACITY: usize = 2_000;
/// Messages buffered per live subscriber before it starts missing some.
pub const LIVE_CAPACITY: usize = 16_384;

/// A lifecycle event to publish (the bus fills in `seq`, `ts` and `channel`).
#[derive(Debug, Clone)]
pub struct Event {
    /// Plugin the event is about.
    pub plugin_id: String,
    /// Revision it concerns, if any.
    pub revision: Option<u64>,
    /// Install that caused it, if any.
    pub install_id: Option<String>,
    /// What happened; its name is `data.event`.
    pub event: LifecycleEvent,
    /// The lifecycle phase, for `install.phase`.
    pub phase: Option<Phase>,
    /// How much it matters.
    pub level: Level,
    /// One line for people.
    pub message: String,
}

/// The bus. One per Core, shared by the plugin manager and the WebSocket.
#[derive(Debug)]
pub struct EventBus {
    state: Mutex<State>,
    live: broadcast::Sender<LogMessage>,
}

#[derive(Debug, Default)]
struct State {
    last_seq: u64,
    rings: HashMap<String, VecDeque<LogMessage>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// An empty bus; the first message gets `seq` 1.
    pub fn new() -> Self {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        EventBus {
            state: Mutex::new(State::default()),
            live,
        }
    }

    /// Live messages from now on. Pair with [`EventBus::backfill`] and drop
    /// live messages whose `seq` the backfill already delivered.
    pub fn subscribe(&self) -> broadcast::Receiver<LogMessage> {
        self.live.subscribe()
    }

    /// Continues numbering after `seq` (a restarted Core, after what it kept
    /// on disk), so `seq` keeps increasing across restarts.
    pub fn resume_after(&self, seq: u64) {
        let mut state = self.lock();
        state.last_seq = state.last_seq.max(seq);
    }

    /// The last `seq` handed out (0 before the first message).
    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// Buffered messages with `seq > since`, oldest first, of one plugin or,
    /// with `plugin_id` `"*"`, of all plugins.
    pub fn backfill(&self, plugin_id: &str, since: u64) -> Vec<LogMessage> {
        let state = self.lock();
        let newer = |ring: &VecDeque<LogMessage>| {
            let start = ring.partition_point(|m| m.seq <= since);
            ring.range(start..).cloned().collect::<Vec<_>>()
        };
        if plugin_id == "*" {
            let mut all: Vec<LogMessage> = state.rings.values().flat_map(newer).collect();
            all.sort_unstable_by_key(|m| m.seq);
            all
        } else {
            state.rings.get(plugin_id).map(newer).unwrap_or_default()
        }
    }

    /// The last `n` buffered messages of one plugin, oldest first.
    pub fn tail(&self, plugin_id: &str, n: usize) -> Vec<LogMessage> {
        let state = self.lock();
        state
            .rings
            .get(plugin_id)
            .map(|ring| {
                ring.range(ring.len().saturating_sub(n)..)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Publishes a lifecycle event.
    pub fn event(&self, event: Event) -> LogMessage {
        self.publish(
            event.plugin_id,
            event.revision,
            event.install_id,
            MessageKind::Event,
            MessageStream::Core,
            event.level,
            event.message,
            event.phase,
            Some(event.event),
            None,
        )
    }

    /// Publishes one line a plugin printed.
    pub fn log(
        &self,
        plugin_id: &str,
        revision: u64,
        process: ProcessRole,
        stream: MessageStream,
        line: String,
    ) {
        let level = if stream == MessageStream::Stderr {
            Level::Warn
        } else {
            Level::Info
        };
        self.publish(
            plugin_id.to_owned(),
            Some(revision),
            None,
            MessageKind::Log,
            stream,
            level,
            line,
            None,
            None,
            Some(process),
        );
    }

    /// Publishes a warning of Core's about one process of a plugin, among
    /// its log lines (stream `core`).
    pub fn warn(&self, plugin_id: &str, revision: u64, process: ProcessRole, message: String) {
        self.publish(
            plugin_id.to_owned(),
            Some(revision),
            None,
            MessageKind::Log,
            MessageStream::Core,
            Level::Warn,
            message,
            None,
            None,
            Some(process),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn publish(
        &self,
        plugin_id: String,
        revision: Option<u64>,
        install_id: Option<String>,
        kind: MessageKind,
        stream: MessageStream,
        level: Level,
        message: String,
        phase: Option<Phase>,
        data: Option<LifecycleEvent>,
        process: Option<ProcessRole>,
    ) -> LogMessage {
        let mut state = self.lock();
        state.last_seq += 1;
        let message = LogMessage {
            channel: LOGS_CHANNEL.to_owned(),
            seq: state.last_seq,
            ts: now_ms(),
            plugin_id,
            revision,
            install_id,
            kind,
            stream,
            level,
            message,
            phase,
            data,
            process,
        };
        let ring = state.rings.entry(message.plugin_id.clone()).or_default();
        if ring.len() == RING_CAPACITY {
            ring.pop_front();
        }
        ring.push_back(message.clone());
        // Sent under the lock so live subscribers see seq in order; never blocks.
        let _ = self.live.send(message.clone());
        message
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Unix epoch milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(bus: &EventBus, plugin: &str, text: &str) {
        bus.log(
            plugin,
            1,
            px_api::ProcessRole::Backend,
            MessageStream::Stdout,
            text.to_owned(),
        );
    }

    #[test]
    fn seq_increases_across_plugins_and_backfill_merges() {
        let bus = EventBus::new();
        line(&bus, "a.x", "1");
        line(&bus, "b.x", "2");
        line(&bus, "a.x", "3");
        let all = bus.backfill("*", 0);
        assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        let a = bus.backfill("a.x", 1);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].message, "3");
        assert_eq!(bus.tail("a.x", 1)[0].message, "3");
        assert!(bus.backfill("nobody.x", 0).is_empty());
    }

    #[test]
    fn ring_is_bounded() {
        let bus = EventBus::new();
        for i in 0..RING_CAPACITY + 10 {
            line(&bus, "a.x", &i.to_string());
        }
        let all = bus.backfill("a.x", 0);
        assert_eq!(all.len(), RING_CAPACITY);
        assert_eq!(all[0].message, "10");
    }

    #[tokio::test]
    async fn live_subscribers_get_events_with_data() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        bus.event(Event {
            plugin_id: "a.x".into(),
            revision: Some(2),
            install_id: Some("i1".into()),
            event: LifecycleEvent::InstallStarted,
            phase: None,
            level: Level::Info,
            message: "installing".into(),
        });
        let got = rx.recv().await.unwrap();
        assert_eq!(got.kind, MessageKind::Event);
        assert_eq!(got.data, Some(LifecycleEvent::InstallStarted));
        assert_eq!(got.install_id.as_deref(), Some("i1"));
    }
}
