//! Where plugins live in the data directory.
//!
//! ```text
//! <data>/plugins/<id>/revisions/<n>/   one revision's files (renamed in whole from staging)
//! <data>/plugins/<id>/data/            PX_PLUGIN_DATA_DIR, kept across revisions
//! <data>/staging/<install_id>/         an install being received; wiped at start
//! <data>/run/<id>.<pid>.pid            a running process's px_runtime::Leftover:
//!                                      "<pid> <start time>", then its cgroup or marker
//! ```

use std::path::{Path, PathBuf};

/// The data directory layout.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    root: PathBuf,
}

impl Paths {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Paths {
            root: data_dir.to_owned(),
        }
    }

    pub(crate) fn staging_root(&self) -> PathBuf {
        self.root.join("staging")
    }

    pub(crate) fn staging(&self, install_id: &str) -> PathBuf {
        self.staging_root().join(install_id)
    }

    pub(crate) fn plugin(&self, id: &str) -> PathBuf {
        self.root.join("plugins").join(id)
    }

    pub(crate) fn revisions(&self, id: &str) -> PathBuf {
        self.plugin(id).join("revisions")
    }

    pub(crate) fn revision(&self, id: &str, revision: u64) -> PathBuf {
        self.revisions(id).join(revision.to_string())
    }

    pub(crate) fn data(&self, id: &str) -> PathBuf {
        self.plugin(id).join("data")
    }

    pub(crate) fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// Pid file of one running process of plugin `id` (blue and green each
    /// have one): what the next Core needs to end it and its descendants.
    pub(crate) fn pid_file(&self, id: &str, pid: u32) -> PathBuf {
        self.run_dir().join(format!("{id}.{pid}.pid"))
    }
}
