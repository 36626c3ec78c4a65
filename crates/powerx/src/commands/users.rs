//! `powerx users add|list|remove`.

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
                let password = if password_stdin {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("reading the password from stdin")?;
                    let text = text.trim_end_matches(['\r', '\n']).to_owned();
                    anyhow::ensure!(!text.is_empty(), "the password on stdin is empty");
                    Some(text)
                } else {
                    None
                };
                let store = store.open().await?;
                store.add_user(&name, &role, password.as_deref()).await?;
                eprintln!("added user {name} with role {role}");
            }
            Users::List { store } => {
                for user in store.open().await?.users().await? {
                    println!("{}\t{}", user.name, user.role);
                }
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
