//! Errors of the engine.
//!
//! Policy: every error names the thing it is about (a path, a pod, a remote, a pack) and,
//! where there is one, the command that fixes it, because the CLI prints it as is. Errors
//! from the user's environment (I/O, git) keep their source. Corruption and hostile input
//! are errors, never panics. An operation that fails leaves the store, the remote and the
//! data folder as they were, or in a state the next run repairs (see format-spec/).

use std::path::PathBuf;

use crate::codec::DecodeError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },

    #[error("the disk holding {} is full: free some space and run the command again (nothing was changed)", path.display())]
    DiskFull { path: PathBuf },

    #[error("{0}")]
    Decode(#[from] DecodeError),

    #[error("corrupt store: {0}. Run `pods verify` to see what is affected")]
    Corrupt(String),

    #[error("data folder: {0}")]
    DataDir(String),

    #[error("unknown pod '{name}'. Known pods: {known}. Create it with `pods create {name}` or push to it")]
    UnknownPod { name: String, known: String },

    #[error("pod '{pod}' has no version {version} (latest is {latest})")]
    UnknownVersion { pod: String, version: u64, latest: u64 },

    #[error("git {action} failed for {url}: {message}")]
    Git { action: &'static str, url: String, message: String },

    #[error("{0}")]
    Remote(String),

    #[error("the pod's branch '{branch}' on {url} moved while pushing (someone else pushed). Run `pods pull` first, then push again")]
    RemoteMoved { branch: String, url: String },

    #[error("{0}")]
    Conflict(String),

    #[error("interrupted; nothing was lost, run the command again to finish")]
    Interrupted,

    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Wraps an I/O error with what was being done and on which path. A full disk becomes
    /// its own error, because its fix is different from any other I/O failure.
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| {
            if source.raw_os_error() == Some(28) || source.kind() == std::io::ErrorKind::StorageFull {
                Error::DiskFull { path }
            } else {
                Error::Io { what, path, source }
            }
        }
    }
}
