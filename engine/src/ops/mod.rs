//! Operations: what each `pods` command does, as functions of their options. The CLI only
//! parses arguments and renders results.

mod bench;
mod diff;
mod gc;
mod pods;
mod pull;
mod push;
mod reset;
mod undo;
mod verify;

use std::path::{Path, PathBuf};

pub use bench::{bench, generate, noise, BenchReport, StageResult};
pub use diff::{diff, Side, Stat};
pub use gc::{drop_versions, gc, GcOutcome};
pub use pods::{create_pod, delete_pod, list_pods, remote_add, remote_remove, versions, PodInfo, RemotePod};
pub use pull::{plan, pull, Planned, PullOptions, PullOutcome};
pub use push::{push, PushOptions, PushOutcome};
pub use reset::reset;
pub use undo::{undo, UndoOutcome};
pub use verify::{verify, Problem, VerifyReport};

use crate::error::{Error, Result};
use crate::filecache::FilesCache;
use crate::home::{Backup, FolderState, Home, PodConfig};
use crate::progress::{Interrupt, Progress};
use crate::snapshot::{self, Snapshot};
use crate::store::Store;

/// What every operation needs besides its own options.
pub struct Env<'a> {
    pub home: &'a Home,
    pub progress: &'a dyn Progress,
    pub interrupt: &'a Interrupt,
}

impl Env<'_> {
    /// Takes the POD_HOME lock, saying so when another pods process holds it.
    pub fn lock(&self) -> Result<crate::home::HomeLock> {
        self.home.lock(|| self.progress.warn("another pods command is using POD_HOME; waiting for it"))
    }
}

/// What a pod's remote holds after a fetch.
pub(crate) struct Fetched {
    pub head: gix::ObjectId,
    pub versions: Vec<crate::codec::version::Version>,
    /// Packs this fetch downloaded.
    pub new_packs: usize,
}

/// Fetches what the pod's remote gained; `None` when its branch does not exist yet.
pub(crate) fn fetch_versions(env: &Env, store: &Store, pod: &PodConfig) -> Result<Option<Fetched>> {
    let remote = env.home.remote(&pod.url)?;
    let fetched = remote.fetch(&pod.branch, store, env.progress)?;
    store.flush()?;
    match fetched.head {
        None => Ok(None),
        Some(head) => {
            Ok(Some(Fetched { head, versions: remote.versions(head, &pod.branch)?, new_packs: fetched.new_packs }))
        }
    }
}

/// Version `number` (the latest when `None`) among `versions`, or why there is none.
pub(crate) fn pick_version(
    versions: &[crate::codec::version::Version],
    pod: &str,
    number: Option<u64>,
) -> Result<crate::codec::version::Version> {
    let latest = versions.last().map_or(0, |v| v.number);
    let found = match number {
        None => versions.last(),
        Some(n) => versions.iter().find(|v| v.number == n),
    };
    found.cloned().ok_or(Error::UnknownVersion { pod: pod.to_string(), version: number.unwrap_or(0), latest })
}

/// Checks the data folder and returns its canonical path.
pub fn check_data_dir(data_dir: Option<&Path>) -> Result<PathBuf> {
    let Some(dir) = data_dir else {
        return Err(Error::DataDir(
            "no data folder given: set DATA_DIR or pass --data-dir PATH (the folder your application keeps its state in)".into(),
        ));
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => dir.canonicalize().map_err(Error::io("resolving", dir)),
        Ok(_) => Err(Error::DataDir(format!("{} is not a folder: point DATA_DIR at a folder", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::DataDir(format!(
            "{} does not exist: create it (mkdir -p {}) or fix DATA_DIR",
            dir.display(),
            dir.display()
        ))),
        Err(e) => Err(Error::io("reading", dir)(e)),
    }
}

/// Finds a pod by name, or explains which pods exist.
pub fn find_pod(home: &Home, name: &str) -> Result<PodConfig> {
    let pods = home.pods()?;
    pods.get(name).cloned().ok_or_else(|| Error::UnknownPod {
        name: name.to_string(),
        known: if pods.is_empty() { "none yet".into() } else { pods.keys().cloned().collect::<Vec<_>>().join(", ") },
    })
}

/// Snapshots the folder with its files cache; returns the snapshot (with the new cache).
fn snapshot_folder(env: &Env, store: &Store, data_dir: &Path, remove_leftovers: bool) -> Result<Snapshot> {
    let cache = std::sync::Mutex::new(FilesCache::load(&env.home.files_cache_path(data_dir)?)?);
    let ctx =
        snapshot::Context { store, cache: &cache, progress: env.progress, interrupt: env.interrupt, remove_leftovers };
    snapshot::snapshot(data_dir, &ctx)
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// Who records a version: git's user.name/user.email if set, else the login name.
pub(crate) fn author() -> (String, String) {
    let git = |key: &str| {
        std::process::Command::new("git")
            .args(["config", "--get", key])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "pods".into());
    let name = git("user.name").unwrap_or_else(|| user.clone());
    let email = git("user.email").unwrap_or_else(|| format!("{user}@localhost"));
    (name, email)
}

/// Adds a backup to the folder's state (saved), dropping the oldest beyond the setting.
pub(crate) fn record_backup(home: &Home, state: &mut FolderState, backup: Backup) -> Result<()> {
    state.backups.push(backup);
    trim_backups(home, state)?;
    home.save_folder_state(state)
}

/// Drops the oldest backups beyond the `keep_backups` setting (not saved).
pub(crate) fn trim_backups(home: &Home, state: &mut FolderState) -> Result<()> {
    let keep = home.settings()?.keep_backups.max(1);
    let excess = state.backups.len().saturating_sub(keep);
    state.backups.drain(..excess);
    Ok(())
}
