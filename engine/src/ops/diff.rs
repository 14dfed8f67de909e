//! `pods diff`: what changed between two versions, or a version and the live folder.

use std::collections::HashSet;
use std::path::Path;

use super::{check_data_dir, find_pod, snapshot_folder, Env};
use crate::codec::tree::{Entry, Node};
use crate::diff::{self, Difference};
use crate::error::{Error, Result};
use crate::id::{BlobId, ChunkId, TreeId};
use crate::store::Store;

/// One side of a diff: `NAME`, `NAME@VERSION`, or `.` for the live data folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Live,
    Pod { name: String, version: Option<u64> },
}

impl Side {
    pub fn parse(text: &str) -> Result<Side> {
        if text == "." {
            return Ok(Side::Live);
        }
        match text.split_once('@') {
            None => Ok(Side::Pod { name: text.to_string(), version: None }),
            Some((name, v)) => {
                let version =
                    v.parse().map_err(|_| Error::Usage(format!("'{v}' is not a version number (use NAME@3)")))?;
                Ok(Side::Pod { name: name.to_string(), version: Some(version) })
            }
        }
    }
}

/// A difference with its sizes and, for files, how many bytes are in chunks the old side
/// does not have: what really changed inside a large file.
#[derive(Debug, Clone)]
pub struct Stat {
    pub difference: Difference,
    pub size_before: Option<u64>,
    pub size_after: Option<u64>,
    pub new_bytes: u64,
    pub shared_bytes: u64,
}

pub fn diff(env: &Env, a: &Side, b: &Side, data_dir: Option<&Path>, filters: &[Vec<u8>]) -> Result<Vec<Stat>> {
    let _lock = env.lock()?;
    let store = env.home.store()?;
    let old = resolve(env, &store, a, data_dir)?;
    let new = resolve(env, &store, b, data_dir)?;
    let differences = diff::diff(&store, old, new, filters)?;
    differences.into_iter().map(|d| stat(&store, d)).collect()
}

fn resolve(env: &Env, store: &Store, side: &Side, data_dir: Option<&Path>) -> Result<TreeId> {
    match side {
        Side::Live => {
            let data_dir = check_data_dir(data_dir)?;
            let snapshot = snapshot_folder(env, store, &data_dir, false)?;
            store.flush()?;
            snapshot.cache.save(&env.home.files_cache_path(&data_dir)?)?;
            Ok(snapshot.root)
        }
        Side::Pod { name, version } => {
            let pod = find_pod(env.home, name)?;
            let fetched = super::fetch_versions(env, store, &pod)?
                .ok_or_else(|| Error::Remote(format!("pod '{name}' has no versions yet")))?;
            Ok(super::pick_version(&fetched.versions, name, *version)?.root)
        }
    }
}

fn chunks(entry: Option<&Entry>) -> (Option<u64>, &[ChunkId]) {
    match entry {
        Some(Entry { node: Node::File { size, chunks }, .. }) => (Some(*size), chunks),
        _ => (None, &[]),
    }
}

fn stat(store: &Store, difference: Difference) -> Result<Stat> {
    let (size_before, old_chunks) = chunks(difference.old.as_ref());
    let (size_after, new_chunks) = chunks(difference.new.as_ref());
    let old_set: HashSet<&ChunkId> = old_chunks.iter().collect();
    let (mut new_bytes, mut shared_bytes) = (0, 0);
    for chunk in new_chunks {
        let len = store
            .location(&BlobId::from(*chunk))
            .map(|l| u64::from(l.entry.raw_len))
            .ok_or_else(|| Error::Corrupt(format!("chunk {} is in no pack", chunk.short())))?;
        if old_set.contains(chunk) {
            shared_bytes += len;
        } else {
            new_bytes += len;
        }
    }
    Ok(Stat { difference, size_before, size_after, new_bytes, shared_bytes })
}
