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
    /// List tokens (never their secrets).
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
                    println!("{}\t{}\t{}\t{}", t.id, t.owner, t.name, state);
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
