//! `powerx tokens create|list|revoke`.

use super::store_args::StoreArgs;

/// Manage API tokens.
#[derive(Debug, clap::Subcommand)]
pub enum Tokens {
    /// Create a token for a user; prints the token alone on stdout, once.
    Create {
        /// User the token acts as.
        #[arg(long)]
        user: String,
        /// Label to recognize the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens (never their secrets): id, owner, label, state, creation and last use (UTC).
    List {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id (from `powerx tokens list`).
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

impl Tokens {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Tokens::Create { user, name, store } => {
                let secret = store.open().await?.create_user_token(&user, &name).await?;
                eprintln!("created token {name:?} for {user}; it is shown only once:");
                println!("{secret}");
            }
            Tokens::List { user, store } => {
                for t in store.open().await?.tokens(user.as_deref()).await? {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let last_used = t.last_used_at.map_or_else(
                        || "never used".to_owned(),
                        |at| format!("last used {}", when(at)),
                    );
                    println!(
                        "{}\t{}\t{}\t{}\tcreated {}\t{}",
                        t.id,
                        t.owner,
                        t.name,
                        state,
                        when(t.created_at),
                        last_used
                    );
                }
            }
            Tokens::Revoke { id, store } => {
                anyhow::ensure!(
                    store.open().await?.revoke_token(&id).await?,
                    "no active token with id {id:?}"
                );
                eprintln!("revoked token {id}");
            }
        }
        Ok(())
    }
}

/// An epoch-milliseconds time as RFC 3339 UTC, to the second.
fn when(epoch_ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(epoch_ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| epoch_ms.to_string())
}
