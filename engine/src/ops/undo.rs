//! `pods undo`: put the folder back exactly as it was before the last pull or reset.

use std::path::Path;

use super::{check_data_dir, snapshot_folder, Env};
use crate::apply;
use crate::error::{Error, Result};
use crate::home::Backup;
use crate::merge::{self, Prefer, Strategy};

#[derive(Debug)]
pub struct UndoOutcome {
    pub restored: Backup,
    /// Paths changed in the folder.
    pub changed: usize,
}

/// Restores the newest backup (and the sync state it had) and removes it from the list.
/// With `list_only`, returns the backups, newest last, and changes nothing.
pub fn undo(env: &Env, data_dir: Option<&Path>, list_only: bool) -> Result<(Vec<Backup>, Option<UndoOutcome>)> {
    let data_dir = check_data_dir(data_dir)?;
    let _lock = env.lock()?;
    let mut state = env.home.folder_state(&data_dir)?;
    if list_only {
        return Ok((state.backups, None));
    }
    let backup = state.backups.last().cloned().ok_or_else(|| {
        Error::Usage(format!("{} has no backup to restore: pull and reset make one", data_dir.display()))
    })?;
    let store = env.home.store()?;
    let ours = snapshot_folder(env, &store, &data_dir, true)?;
    store.flush()?;
    let outcome = merge::merge(&store, None, ours.root, backup.root, Strategy::Overwrite, Prefer::Theirs)?;
    let mut cache = ours.cache;
    apply::apply(&store, &data_dir, &outcome.changes, &mut cache, env.progress, env.interrupt)?;
    crate::fault::point("undo-before-state");
    cache.save(&env.home.files_cache_path(&data_dir)?)?;
    state.backups.pop();
    state.resetting = false;
    state.synced = backup.synced.clone();
    env.home.save_folder_state(&state)?;
    let changed = outcome.changes.len();
    Ok((state.backups, Some(UndoOutcome { restored: backup, changed })))
}
