//! Applies a merge outcome to the data folder. Every file and symlink is written under a
//! temporary name in its own directory and renamed into place, so a running program sees
//! the old file or the new one, never a half-written one. Removals run first, then
//! directories are created (parents first), then files are written in parallel, and last
//! directory permissions and times are set (children first, since writing changes them).

use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

mod content;

use content::OldFile;

use crate::codec::tree::{Entry, Node};
use crate::error::{Error, Result};
use crate::filecache::{FileStamp, FilesCache};
use crate::fsio::temp_beside;
use crate::id::ChunkId;
use crate::merge::Change;
use crate::progress::{Interrupt, Phase, Progress};
use crate::snapshot::{path_of, stamp_of};
use crate::store::Store;

/// The file a new one replaces: its chunks, and the stamp they were recorded with when
/// the files cache vouches for them.
struct Replaced {
    chunks: Vec<ChunkId>,
    stamp: Option<FileStamp>,
}

struct FileJob {
    rel: Vec<u8>,
    entry: Entry,
    /// The file this one replaces at the same path, as on disk.
    replaces: Option<Replaced>,
}

#[derive(Default)]
struct Plan {
    remove: Vec<(PathBuf, bool)>,
    mkdir: Vec<PathBuf>,
    files: Vec<FileJob>,
    /// Directories whose permission bits and mtime are set at the end.
    dir_meta: Vec<(PathBuf, Entry)>,
}

/// Applies `changes` under `data_dir` and records every written file in `cache`.
pub fn apply(
    store: &Store,
    data_dir: &Path,
    changes: &[Change],
    cache: &mut FilesCache,
    progress: &dyn Progress,
    interrupt: &Interrupt,
) -> Result<()> {
    let mut plan = Plan::default();
    for change in changes {
        plan_change(store, data_dir, change, cache, &mut plan)?;
    }
    let Plan { remove, mkdir, files, dir_meta } = plan;
    let needed: u64 = files.iter().map(job_size).sum();
    check_space(data_dir, needed)?;
    for (path, is_dir) in remove.iter().rev() {
        interrupt.check()?;
        let result = if *is_dir { fs::remove_dir_all(path) } else { fs::remove_file(path) };
        match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(cannot_write(path, e)),
            _ => {}
        }
    }
    crate::fault::point("apply-removed");
    for dir in &mkdir {
        fs::create_dir_all(dir).map_err(|e| cannot_write(dir, e))?;
    }
    crate::fault::point("apply-dirs-created");
    progress.begin(Phase::Write, needed);
    // Each job is consumed and its record moved into the cache as soon as it is written:
    // collecting the records first held a second copy of every path and chunk list
    // (200 000 files: a pull's peak heap was 142 MiB).
    let cache = std::sync::Mutex::new(cache);
    // Largest first, one job at a time per thread: the few large files start at once and
    // the many small ones fill in around them.
    let mut files = files;
    files.sort_unstable_by_key(|job| std::cmp::Reverse(job_size(job)));
    files.into_par_iter().with_max_len(1).try_for_each(|job| -> Result<()> {
        interrupt.check()?;
        let written = write_entry(store, data_dir, job, progress);
        crate::fault::point("apply-file");
        let (rel, cached) = written?;
        let mut cache = cache.lock().expect("cache lock");
        match cached {
            Some(cached) => cache.files.insert(rel, cached),
            None => cache.files.remove(&rel),
        };
        Ok(())
    })?;
    progress.end(Phase::Write);
    for (path, entry) in dir_meta.iter().rev() {
        fs::set_permissions(path, fs::Permissions::from_mode(entry.mode)).map_err(|e| cannot_write(path, e))?;
        filetime::set_file_mtime(path, filetime_of(entry.mtime_ns)).map_err(|e| cannot_write(path, e))?;
    }
    Ok(())
}

fn job_size(job: &FileJob) -> u64 {
    if let Node::File { size, .. } = job.entry.node {
        size
    } else {
        0
    }
}

/// Refuses up front when the folder's file system lacks room for what will be written
/// (each new file exists beside the old one until it is renamed over it), so a full disk
/// stops the pull before anything changes.
fn check_space(data_dir: &Path, needed: u64) -> Result<()> {
    let Ok(stat) = rustix::fs::statvfs(data_dir) else { return Ok(()) };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    // Room for block rounding and directory entries.
    let wanted = needed + needed / 50 + (1 << 20);
    if wanted > free {
        return Err(Error::DataDir(format!(
            "not enough space in {}: this needs about {} MiB and {} MiB are free. Free some space and run the \
             command again; nothing was changed",
            data_dir.display(),
            wanted >> 20,
            free >> 20
        )));
    }
    Ok(())
}

fn cannot_write(path: &Path, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(28) {
        return Error::DataDir(format!(
            "the disk holding {} filled up while writing. Free some space, then pull again (or `pods undo` to go \
             back to the folder as it was)",
            path.display()
        ));
    }
    Error::DataDir(format!("cannot write {}: {e}. Fix its permissions, then pull again", path.display()))
}

fn plan_change(store: &Store, data_dir: &Path, change: &Change, cache: &FilesCache, plan: &mut Plan) -> Result<()> {
    let path = path_of(data_dir, &change.path);
    let from_dir = matches!(change.from, Some(Entry { node: Node::Dir(_), .. }));
    match (&change.from, &change.to) {
        (Some(_), Some(to)) if from_dir && matches!(to.node, Node::Dir(_)) => {
            // Same directory, new permission bits (content is merged separately).
            plan.dir_meta.push((path, to.clone()));
        }
        (from, to) => {
            let renamed_over = matches!(to, Some(Entry { node: Node::File { .. } | Node::Symlink(_), .. }));
            if from.is_some() && (from_dir || !renamed_over) {
                plan.remove.push((path.clone(), from_dir));
            }
            if let Some(to) = to {
                let replaces = match from {
                    Some(Entry { node: Node::File { chunks, .. }, .. }) => {
                        let cached = cache.files.get(&change.path).filter(|c| c.chunks == *chunks);
                        Some(Replaced { chunks: chunks.clone(), stamp: cached.map(|c| c.stamp.clone()) })
                    }
                    _ => None,
                };
                plan_create(store, &change.path, to, replaces, data_dir, plan)?;
            }
        }
    }
    Ok(())
}

/// Plans writing `entry` at `rel`, with the whole subtree if it is a directory.
fn plan_create(
    store: &Store,
    rel: &[u8],
    entry: &Entry,
    replaces: Option<Replaced>,
    data_dir: &Path,
    plan: &mut Plan,
) -> Result<()> {
    match &entry.node {
        Node::Dir(id) => {
            let path = path_of(data_dir, rel);
            plan.mkdir.push(path.clone());
            plan.dir_meta.push((path, entry.clone()));
            let tree = store.read_tree(id)?;
            for child in &tree.entries {
                plan_create(store, &[rel, b"/", &child.name].concat(), child, None, data_dir, plan)?;
            }
        }
        _ => plan.files.push(FileJob { rel: rel.to_vec(), entry: entry.clone(), replaces }),
    }
    Ok(())
}

fn filetime_of(ns: i64) -> filetime::FileTime {
    filetime::FileTime::from_unix_time(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
}

fn system_time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

/// Writes one file or symlink atomically; returns its files-cache record.
fn write_entry(
    store: &Store,
    data_dir: &Path,
    job: FileJob,
    progress: &dyn Progress,
) -> Result<(Vec<u8>, Option<crate::filecache::CachedFile>)> {
    let path = path_of(data_dir, &job.rel);
    let tmp = temp_beside(&path);
    let FileJob { rel, entry, replaces } = job;
    let result = (|| match entry.node {
        Node::Symlink(target) => {
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &tmp)
                .map_err(|e| cannot_write(&tmp, e))?;
            filetime::set_symlink_file_times(&tmp, filetime_of(entry.mtime_ns), filetime_of(entry.mtime_ns))
                .map_err(|e| cannot_write(&tmp, e))?;
            replace(&tmp, &path)?;
            Ok(None)
        }
        Node::File { size, chunks } => {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| cannot_write(&tmp, e))?;
            let old = replaces.and_then(|old| OldFile::open(store, &path, &old.chunks, old.stamp.as_ref()));
            content::write_file(store, &file, &tmp, &chunks, size, old.as_ref(), progress)?;
            file.set_modified(system_time(entry.mtime_ns)).map_err(|e| cannot_write(&tmp, e))?;
            file.set_permissions(fs::Permissions::from_mode(entry.mode)).map_err(|e| cannot_write(&tmp, e))?;
            drop(file);
            replace(&tmp, &path)?;
            // Stat after the rename: renaming changes the inode's ctime.
            let stamp = stamp_of(&fs::symlink_metadata(&path).map_err(|e| cannot_write(&path, e))?);
            Ok(Some(crate::filecache::CachedFile { stamp, chunks }))
        }
        Node::Dir(_) => unreachable!("directories are planned, not written"),
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|cached| (rel, cached))
}

/// Renames `tmp` over `path`. rename(2) cannot replace a directory with a file, so a
/// directory in the way (one the merge decided to replace) is removed first.
fn replace(tmp: &Path, path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(path).map_err(|e| cannot_write(path, e))?;
    }
    fs::rename(tmp, path).map_err(|e| cannot_write(path, e))
}
