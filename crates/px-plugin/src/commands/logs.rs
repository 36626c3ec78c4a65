//! `px-plugin logs [ID] [--follow] [--since SEQ] [--tail N]`

use anyhow::Context as _;
use owo_colors::OwoColorize as _;
use px_api::{LogMessage, MessageKind, MessageStream, ServerControl, ServerMessage};

use crate::cli::Global;
use crate::client::CoreClient;
use crate::client::ws::{FollowCommand, Followed, follow};
use crate::commands::uninstall::local_id;
use crate::output::outln;

const EXAMPLES: &str = "\
Examples:
  px-plugin logs                         The last 100 lines and events of the plugin in .
  px-plugin logs com.acme.hello -f       Then keep following (Ctrl-C stops)
  px-plugin logs --since 1200            Only what came after seq 1200
  px-plugin logs --json                  One JSON object per line (the plugin.dev.logs message)";

/// Show a plugin's recent log lines and lifecycle events, and follow new ones.
///
/// Lines are prefixed with the revision that printed them; stderr lines are
/// yellow; lifecycle events (install phases, crashes, restarts) are marked ▸.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Logs {
    /// Plugin id (default: the plugin in the current directory)
    pub id: Option<String>,

    /// Keep printing new lines as they come (over Core's WebSocket)
    #[arg(long, short)]
    pub follow: bool,

    /// Only messages after this sequence number
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,

    /// How many recent messages to show first
    #[arg(long, short = 'n', default_value_t = 100, value_name = "N")]
    pub tail: usize,
}

impl Logs {
    /// Prints, then follows when asked.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let id = match self.id {
            Some(id) => id,
            None => local_id(std::path::Path::new("."))?,
        };
        let core = CoreClient::from_global(global)?;
        crate::client::runtime()?.block_on(async move {
            let recent = core
                .logs(&id, self.tail, self.since)
                .await
                .with_context(|| format!("reading the logs of {id}"))?;
            let mut last = self.since;
            for message in &recent.messages {
                print_message(message, global.json);
                last = Some(last.unwrap_or(0).max(message.seq));
            }
            if !self.follow {
                return Ok(());
            }
            // Resume after what was printed; with nothing printed and no
            // --since, follow from now on.
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
            let text = match message.level.as_str() {
                "error" => text.red().to_string(),
                "warn" => text.yellow().to_string(),
                _ => text.cyan().to_string(),
            };
            outln!("{} {text}", revision.dimmed());
        }
        (MessageKind::Log, MessageStream::Stderr) => {
            outln!("{} {}", revision.dimmed(), message.message.yellow())
        }
        (MessageKind::Log, _) => outln!("{} {}", revision.dimmed(), message.message),
    }
}
