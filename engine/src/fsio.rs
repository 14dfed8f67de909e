//! Crash-safe file writes: write to a temporary name in the same directory, fsync, rename
//! over the final name, fsync the directory. A reader (or a crash) sees the old file or the
//! new one, never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Names that pods itself creates inside the data folder while writing; snapshots skip
/// them and pulls remove leftovers (format-spec/local.md).
pub const TEMP_PREFIX: &[u8] = b".pods-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary path beside `path`.
pub fn temp_beside(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!(".pods-tmp-{}-{n}", std::process::id());
    path.parent().unwrap_or(Path::new(".")).join(name)
}

pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("syncing folder", dir))
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_beside(path);
    let result = (|| {
        let mut file = File::create(&tmp).map_err(Error::io("creating", &tmp))?;
        file.write_all(bytes).map_err(Error::io("writing", &tmp))?;
        file.sync_all().map_err(Error::io("syncing", &tmp))?;
        fs::rename(&tmp, path).map_err(Error::io("renaming into place", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

pub fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(Error::io("creating folder", path))
}

/// Reads a whole file, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading", path)(e)),
    }
}
