//! `px-plugin logs [ID] [--follow] [--since WHEN] [--until WHEN] [--install ID] [--after-seq SEQ] [--tail N]`

use anyhow::Context as _;
use owo_colors::OwoColorize as _;
use px_api::{Level, LogMessage, MessageKind, MessageStream, ServerControl, ServerMessage};

use crate::cli::Global;
use crate::client::ws::{FollowCommand, Followed, follow};
use crate::client::{CoreClient, LogsQuery};
use crate::commands::uninstall::plugin_id;
use crate::output::outln;

const EXAMPLES: &str = "\
Examples:
  px-plugin logs                         The last 100 lines and events of the plugin in .
  px-plugin logs com.acme.hello -f       Then keep following (Ctrl-C stops)
  px-plugin logs --since 1d --tail 1000  What it printed since yesterday (kept 7 days, also across restarts)
  px-plugin logs --install 0196…         Only the events of one install (its id is in the install report)
  px-plugin logs --after-seq 1200        Only what came after seq 1200
  px-plugin logs --json                  One JSON object per line (the plugin.dev.logs message)";

/// Show a plugin's recent log lines and lifecycle events, and follow new ones.
///
/// Lines are prefixed with the revision that printed them; stderr lines are
/// yellow; lifecycle events (install phases, crashes, restarts) are marked ▸.
/// Core keeps them on disk for `audit.retention_days` (7), so `--since` can
/// reach back to before a restart or an uninstall.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Logs {
    /// Plugin id or project directory (default: the plugin in the current directory)
    pub id: Option<String>,

    /// Keep printing new lines as they come (over Core's WebSocket)
    #[arg(long, short)]
    pub follow: bool,

    /// Only messages from this long ago on (30s, 15m, 2h, 1d) or from an epoch-ms time
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub since: Option<i64>,

    /// Only messages before this long ago (30s, 15m, 2h, 1d) or an epoch-ms time
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub until: Option<i64>,

    /// Only messages of this install (the install_id of a report)
    #[arg(long = "install", value_name = "INSTALL_ID")]
    pub install_id: Option<String>,

    /// Only messages after this sequence number
    #[arg(long, value_name = "SEQ")]
    pub after_seq: Option<u64>,

    /// How many recent messages to show first
    #[arg(long, short = 'n', default_value_t = 100, value_name = "N")]
    pub tail: usize,
}

/// `30s`, `15m`, `2h`, `1d` ago, or epoch milliseconds, as epoch milliseconds.
fn parse_when(text: &str) -> Result<i64, String> {
    let bad =
        || format!("expected a duration like 30s, 15m, 2h, 1d or epoch milliseconds, got {text:?}");
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let number: i64 = number.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Ok(now - number.saturating_mul(unit_ms))
}

impl Logs {
    /// Prints, then follows when asked.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let id = plugin_id(self.id)?;
        let core = CoreClient::from_global(global)?;
        crate::client::runtime()?.block_on(async move {
            let query = LogsQuery {
                tail: self.tail,
                since: self.since,
                until: self.until,
                install_id: self.install_id,
                after_seq: self.after_seq,
            };
            let recent = core
                .logs(&id, &query)
                .await
                .with_context(|| format!("reading the logs of {id}"))?;
            let mut last = self.after_seq;
            for message in &recent.messages {
                print_message(message, global.json);
                last = Some(last.unwrap_or(0).max(message.seq));
            }
            if !self.follow {
                return Ok(());
            }
            // Resume after what was printed; with nothing printed and no
            // --after-seq, follow from now on.
            let (commands, mut followed) = follow(core, Some(id), last);
            loop {
                tokio::select! {
                    item = followed.recv() => match item {
                        Some(Followed::Message(ServerMessage::Log(message))) => {
                            print_message(&message, global.json)
                        }
                        Some(Followed::Message(ServerMessage::Control(ServerControl::Missed { count }))) => {
                            anstream::eprintln!("{} missed {count} messages (this terminal was too slow)", "!".yellow());
                        }
                        Some(Followed::Message(_)) | Some(Followed::Connected) => {}
                        Some(Followed::Lost(why)) => {
                            anstream::eprintln!("{} {why}; reconnecting…", "!".yellow());
                        }
                        None => return Ok(()),
                    },
                    _ = crate::commands::dev::stop_signal() => {
                        let _ = commands.send(FollowCommand::Stop);
                        return Ok(());
                    }
                }
            }
        })
    }
}

/// One message for people (`[r3] line`, `[r3] ▸ event`) or as a JSON line.
pub fn print_message(message: &LogMessage, json: bool) {
    if json {
        outln!(
            "{}",
            serde_json::to_string(message).expect("messages serialize")
        );
        return;
    }
    let revision = message
        .revision
        .map_or_else(|| "[--]".to_owned(), |r| format!("[r{r}]"));
    match (message.kind, message.stream) {
        (MessageKind::Event, _) => {
            let text = format!("▸ {}", message.message);
            let text = match message.level {
                Level::Error => text.red().to_string(),
                Level::Warn => text.yellow().to_string(),
                Level::Info => text.cyan().to_string(),
            };
            outln!("{} {text}", revision.dimmed());
        }
        (MessageKind::Log, MessageStream::Stderr) => {
            outln!("{} {}", revision.dimmed(), message.message.yellow())
        }
        (MessageKind::Log, _) => outln!("{} {}", revision.dimmed(), message.message),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_when;

    #[test]
    fn when_is_a_duration_ago_or_epoch_ms() {
        assert_eq!(parse_when("1700000000000"), Ok(1_700_000_000_000));
        let now = parse_when("0s").unwrap();
        let day = parse_when("1d").unwrap();
        assert!((now - day - 86_400_000).abs() < 1_000, "{now} {day}");
        let two_hours = parse_when("2h").unwrap();
        assert!((now - two_hours - 7_200_000).abs() < 1_000);
        for bad in ["", "d", "1w", "yesterday", "1.5h"] {
            assert!(parse_when(bad).is_err(), "{bad}");
        }
    }
}
