//! `pods reset`: empty the data folder (not the folder itself), after a backup.

use std::path::Path;

use super::{check_data_dir, now_ns, snapshot_folder, Env};
use crate::error::{Error, Result};
use crate::home::Backup;

/// Returns how many top-level entries were removed.
pub fn reset(env: &Env, data_dir: Option<&Path>) -> Result<usize> {
    let data_dir = check_data_dir(data_dir)?;
    let _lock = env.lock()?;
    let store = env.home.store()?;
    let mut state = env.home.folder_state(&data_dir)?;
    // A reset cut short leaves a partly emptied folder: finishing it must not replace the
    // backup of the whole folder with one of what was left.
    if !state.resetting {
        let snapshot = snapshot_folder(env, &store, &data_dir, false)?;
        store.flush()?;
        if !snapshot.stats_empty() {
            let backup = Backup {
                time_ns: now_ns(),
                root: snapshot.root,
                reason: "before reset".into(),
                synced: state.synced.clone(),
            };
            state.backups.push(backup);
        }
        // An empty folder has no base: the next pull starts afresh.
        state.synced = None;
        state.resetting = true;
        super::trim_backups(env.home, &mut state)?;
        env.home.save_folder_state(&state)?;
    }
    crate::fault::point("reset-backup-recorded");
    let mut removed = 0;
    for entry in std::fs::read_dir(&data_dir).map_err(Error::io("listing", &data_dir))? {
        let entry = entry.map_err(Error::io("listing", &data_dir))?;
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let result = if is_dir { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        result.map_err(Error::io("removing", &path))?;
        removed += 1;
        crate::fault::point("reset-removed");
    }
    state.resetting = false;
    env.home.save_folder_state(&state)?;
    Ok(removed)
}
