//! Exit codes (SPEC §4) and the typed errors that select them: 0 ok,
//! 1 failure, 2 usage error, 3 cannot reach Core.
//!
//! Commands return `anyhow::Error`; `main` looks for a [`CliError`] anywhere in
//! the cause chain to pick the code. Any other error is a plain failure (1).

/// Something failed: invalid manifest, build error, install rejected or rolled back.
pub const FAILURE: u8 = 1;
/// The command line was wrong (clap exits with this code on its own errors too).
pub const USAGE: u8 = 2;
/// Core could not be reached.
pub const CORE_UNREACHABLE: u8 = 3;

/// An error that chooses its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A check failed; what failed was already printed (e.g. manifest diagnostics).
    #[error("{0}")]
    Failed(String),
    /// The arguments parse but do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// Core did not answer at `url`.
    #[error("cannot reach core at {url}")]
    CoreUnreachable {
        /// The Core URL that was tried.
        url: String,
        /// Why the connection failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The exit code for `err`: from the first [`CliError`] in its chain, else [`FAILURE`].
pub fn code_for(err: &anyhow::Error) -> u8 {
    let cli_error = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<CliError>());
    match cli_error {
        Some(CliError::Failed(_)) | None => FAILURE,
        Some(CliError::Usage(_)) => USAGE,
        Some(CliError::CoreUnreachable { .. }) => CORE_UNREACHABLE,
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn codes_follow_the_typed_error_through_context() {
        let unreachable = CliError::CoreUnreachable {
            url: "http://127.0.0.1:1".into(),
            source: "connection refused".into(),
        };
        let err = anyhow::Error::new(unreachable).context("installing com.acme.hello");
        assert_eq!(code_for(&err), CORE_UNREACHABLE);

        let err = Err::<(), _>(CliError::Usage("--out needs --pxp".into()))
            .context("building")
            .unwrap_err();
        assert_eq!(code_for(&err), USAGE);

        assert_eq!(
            code_for(&anyhow::Error::new(CliError::Failed("invalid".into()))),
            FAILURE
        );
        assert_eq!(code_for(&anyhow::anyhow!("disk full")), FAILURE);
    }
}
