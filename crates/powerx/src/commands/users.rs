//! `powerx users add|list|passwd|remove`.

use std::io::Read;

use anyhow::Context;

use super::store_args::StoreArgs;

/// Manage users.
#[derive(Debug, clap::Subcommand)]
pub enum Users {
    /// Add a user with a role from the policy (admin, plugin-developer, viewer, …).
    Add {
        /// Login name.
        name: String,
        /// Role name.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (otherwise the user can only use tokens).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a user's password, read from standard input (e.g. to replace the
    /// one-time admin password); their Admin sessions end, tokens stay.
    Passwd {
        /// Login name.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a user and their tokens.
    Remove {
        /// Login name.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

impl Users {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Users::Add {
                name,
                role,
                password_stdin,
                store,
            } => {
                let password = password_stdin.then(password_from_stdin).transpose()?;
                let store = store.open().await?;
                store.add_user(&name, &role, password.as_deref()).await?;
                eprintln!("added user {name} with role {role}");
            }
            Users::List { store } => {
                for user in store.open().await?.users().await? {
                    println!("{}\t{}", user.name, user.role);
                }
            }
            Users::Passwd { name, store } => {
                let password = password_from_stdin()?;
                anyhow::ensure!(
                    store.open().await?.set_password(&name, &password).await?,
                    "no user named {name:?}"
                );
                eprintln!("set the password of {name}; their Admin sessions ended");
            }
            Users::Remove { name, store } => {
                anyhow::ensure!(
                    store.open().await?.remove_user(&name).await?,
                    "no user named {name:?}"
                );
                eprintln!("removed user {name}");
            }
        }
        Ok(())
    }
}

/// A password on standard input, without its line ending; never empty.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the password from stdin")?;
    let text = text.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!text.is_empty(), "the password on stdin is empty");
    Ok(text)
}
