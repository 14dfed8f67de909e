//! POD_HOME: the store, pod definitions, named remotes, the embedded default remote, the
//! staging git repositories and per-folder state. Layout: format-spec/local.md.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsio;
use crate::id::TreeId;
use crate::remote::GitRemote;
use crate::store::Store;

pub struct Home {
    root: PathBuf,
}

/// A pod: a git remote URL and a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodConfig {
    pub url: String,
    pub branch: String,
    /// A shell command run after every successful pull (e.g. to make the application reload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<String>,
}

/// What a data folder last synced with (a push or a pull), the base of the next merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synced {
    pub pod: String,
    pub url: String,
    pub branch: String,
    pub version: u64,
    pub root: TreeId,
    pub commit: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderState {
    /// Set when loaded; not stored (the folder's key already names it, and a path need
    /// not be valid UTF-8).
    #[serde(skip)]
    pub data_dir: PathBuf,
    pub synced: Option<Synced>,
    /// Snapshots of the folder taken before a pull or reset changed it, newest last.
    #[serde(default)]
    pub backups: Vec<Backup>,
    /// A reset started and has not finished: its backup is already recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resetting: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    pub time_ns: i64,
    pub root: TreeId,
    pub reason: String,
    /// What the folder had synced with when the backup was taken; `undo` restores it.
    #[serde(default)]
    pub synced: Option<Synced>,
}

/// User settings (`settings.json`), all optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How many backups of each folder `pull` and `reset` keep for `undo`.
    pub keep_backups: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { keep_backups: 10 }
    }
}

/// Holds the POD_HOME lock; dropping it releases the lock.
pub struct HomeLock {
    _file: File,
}

impl Home {
    pub fn open(root: &Path) -> Result<Home> {
        fsio::create_dir_all(root)?;
        let root = root.canonicalize().map_err(Error::io("opening POD_HOME", root))?;
        Ok(Home { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the exclusive lock on this POD_HOME: one pods process changes it at a time.
    /// Waits (saying so through `waiting`) when another process holds it.
    pub fn lock(&self, waiting: impl FnOnce()) -> Result<HomeLock> {
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("opening", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                waiting();
                file.lock().map_err(Error::io("locking", &path))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("locking", &path)(e)),
        }
        Ok(HomeLock { _file: file })
    }

    pub fn store(&self) -> Result<Store> {
        Store::open(&self.root.join("store"))
    }

    /// URL of the embedded default remote: a bare repository inside POD_HOME.
    pub fn default_remote_url(&self) -> String {
        self.root.join("remote.git").display().to_string()
    }

    pub fn is_default_remote(&self, url: &str) -> bool {
        url == self.default_remote_url()
    }

    /// The git remote for `url`, creating the embedded default repository on first use.
    pub fn remote(&self, url: &str) -> Result<GitRemote> {
        let remote = GitRemote::open(&self.root.join("git"), url)?;
        if self.is_default_remote(url) {
            GitRemote::init_local_remote(Path::new(url))?;
            return Ok(remote.owned_locally(Path::new(url)));
        }
        Ok(remote)
    }

    fn read_json<T: for<'de> Deserialize<'de> + Default>(&self, name: &str) -> Result<T> {
        let path = self.root.join(name);
        match fsio::read_optional(&path)? {
            None => Ok(T::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Usage(format!("{} is not valid: {e}. Fix or remove it", path.display()))),
        }
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).expect("plain data serializes");
        fsio::write_atomic(&self.root.join(name), &bytes)
    }

    pub fn pods(&self) -> Result<BTreeMap<String, PodConfig>> {
        self.read_json("pods.json")
    }

    pub fn save_pods(&self, pods: &BTreeMap<String, PodConfig>) -> Result<()> {
        self.write_json("pods.json", pods)
    }

    pub fn settings(&self) -> Result<Settings> {
        self.read_json("settings.json")
    }

    pub fn remotes(&self) -> Result<BTreeMap<String, String>> {
        self.read_json("remotes.json")
    }

    pub fn save_remotes(&self, remotes: &BTreeMap<String, String>) -> Result<()> {
        self.write_json("remotes.json", remotes)
    }

    fn folder_dir(&self, data_dir: &Path) -> PathBuf {
        let key = blake3::hash(data_dir.as_os_str().as_encoded_bytes()).to_hex();
        self.root.join("folders").join(&key[..16])
    }

    pub fn folder_state(&self, data_dir: &Path) -> Result<FolderState> {
        let path = self.folder_dir(data_dir).join("state.json");
        let mut state: FolderState = match fsio::read_optional(&path)? {
            None => FolderState::default(),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Usage(format!(
                    "{} is not valid: {e}. Remove it to forget this folder's sync state",
                    path.display()
                ))
            })?,
        };
        state.data_dir = data_dir.to_path_buf();
        Ok(state)
    }

    pub fn save_folder_state(&self, state: &FolderState) -> Result<()> {
        let dir = self.folder_dir(&state.data_dir);
        fsio::create_dir_all(&dir)?;
        let bytes = serde_json::to_vec_pretty(state).expect("plain data serializes");
        fsio::write_atomic(&dir.join("state.json"), &bytes)
    }

    /// The state of every folder this home has synced.
    pub fn all_folder_states(&self) -> Result<Vec<FolderState>> {
        let dir = self.root.join("folders");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
        let mut states = Vec::new();
        for entry in entries {
            let path = entry.map_err(Error::io("listing", &dir))?.path().join("state.json");
            if let Some(bytes) = fsio::read_optional(&path)? {
                states.push(serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Usage(format!(
                        "{} is not valid: {e}. Remove it to forget this folder's sync state",
                        path.display()
                    ))
                })?);
            }
        }
        Ok(states)
    }

    pub fn files_cache_path(&self, data_dir: &Path) -> Result<PathBuf> {
        let dir = self.folder_dir(data_dir);
        fsio::create_dir_all(&dir)?;
        Ok(dir.join("files"))
    }
}

/// Pod names become git branch names and file names: keep them plain.
pub fn check_pod_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with(['-', '.'])
        && !name.contains("..")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "'{name}' is not a valid pod name: use letters, digits, '-', '_' and '.', not starting with '-' or '.'"
        )))
    }
}

/// Branch names are checked by git itself (`git check-ref-format --branch`), so a bad one
/// fails before any work.
pub fn check_branch_name(branch: &str) -> Result<()> {
    let valid = std::process::Command::new("git")
        .args(["check-ref-format", "--branch", branch])
        .output()
        .map(|o| o.status.success() && !branch.starts_with('-'))
        .unwrap_or(false);
    if valid {
        Ok(())
    } else {
        Err(Error::Usage(format!("'{branch}' is not a valid git branch name")))
    }
}
