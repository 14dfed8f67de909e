//! Replacing a file that a pull changes: the chunks the new version shares with the file on
//! disk are copied from it, unread while the file keeps the stamp the files cache recorded,
//! read and checked against their ids otherwise, so a file the program changed behind the
//! snapshot's back still ends up exactly the pulled version.

mod common;

use std::fs;
use std::path::Path;

use common::snapshot_entry;
use pods_engine::apply;
use pods_engine::filecache::FilesCache;
use pods_engine::merge::Change;
use pods_engine::progress::{Interrupt, NoProgress};
use pods_engine::store::Store;

/// Bytes that chunk into many distinct chunks (no two 64 KiB windows alike).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

struct Versions {
    _dir: tempfile::TempDir,
    store: Store,
    target: std::path::PathBuf,
    old: Vec<u8>,
    new: Vec<u8>,
    change: Change,
    /// The files cache after `target` got the old version: it vouches for the file.
    cache: FilesCache,
    /// The packs holding the old version's chunks.
    old_packs: Vec<std::path::PathBuf>,
}

/// A 20 MiB file (several parallel pieces) and a new version of it with bytes inserted near
/// the start (every later chunk moves), some overwritten in the middle and more appended.
/// `target` holds the old version, written as a pull writes it.
fn versions() -> Versions {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("store")).expect("store");
    let old = noise(20 << 20, 1);
    let mut new = old.clone();
    new.splice(100_000..100_000, noise(777, 2));
    new[9_000_000..9_000_100].copy_from_slice(&noise(100, 3));
    new.extend(noise(1 << 20, 4));

    let source = dir.path().join("source");
    fs::create_dir_all(&source).expect("mkdir");
    fs::write(source.join("db"), &old).expect("write");
    let old_entry = snapshot_entry(&store, &source, "db");
    let old_packs = store.pack_ids().expect("packs").iter().map(|p| store.pack_path(p)).collect();
    fs::write(source.join("db"), &new).expect("write");
    let new_entry = snapshot_entry(&store, &source, "db");

    let target = dir.path().join("target");
    fs::create_dir_all(&target).expect("mkdir");
    let create = Change { path: b"db".to_vec(), from: None, to: Some(old_entry.clone()) };
    let cache = run_apply(&store, &target, create, FilesCache::default());
    assert_eq!(fs::read(target.join("db")).expect("read"), old);
    let change = Change { path: b"db".to_vec(), from: Some(old_entry), to: Some(new_entry) };
    Versions { _dir: dir, store, target, old, new, change, cache, old_packs }
}

/// Applies `change` with `cache` as the pull's snapshot left it; returns the cache after.
fn run_apply(store: &Store, target: &Path, change: Change, mut cache: FilesCache) -> FilesCache {
    apply::apply(store, target, &[change], &mut cache, &NoProgress, &Interrupt::default()).expect("apply");
    cache
}

/// Overwrites the old version's packs with zeros: a chunk read from them then fails its
/// hash, so an apply succeeds only if every shared chunk comes from the old file.
fn zero_old_packs(v: &Versions) {
    for pack in &v.old_packs {
        let len = fs::metadata(pack).expect("pack").len() as usize;
        fs::write(pack, vec![0u8; len]).expect("zero pack");
    }
}

fn target_content(v: &Versions) -> Vec<u8> {
    fs::read(v.target.join("db")).expect("read")
}

#[test]
fn a_changed_file_is_rebuilt_exactly_from_the_file_it_replaces() {
    // Without the cache's word the chunks are read back and checked; with it, copied unread.
    for vouched in [false, true] {
        let v = versions();
        zero_old_packs(&v);
        let cache = if vouched { v.cache.clone() } else { FilesCache::default() };
        run_apply(&v.store, &v.target, v.change.clone(), cache);
        assert!(target_content(&v) == v.new, "the new version, byte for byte (cache vouched: {vouched})");
    }
}

#[test]
fn chunks_the_program_overwrote_since_the_snapshot_come_from_the_store() {
    let v = versions();
    // The program writes the old file in place after the cache recorded it: the merge still
    // takes it for the old version, its bytes and its stamp say otherwise.
    let mut scribbled = v.old.clone();
    for at in [0usize, 5_000_000, 15_000_000, scribbled.len() - 10] {
        scribbled[at..at + 10].fill(0xee);
    }
    fs::write(v.target.join("db"), &scribbled).expect("write");
    run_apply(&v.store, &v.target, v.change.clone(), v.cache.clone());
    assert!(target_content(&v) == v.new, "no scribbled byte copied");
}

#[test]
fn a_replaced_file_cut_short_or_gone_is_no_source() {
    let v = versions();
    fs::write(v.target.join("db"), &v.old[..3_000_000]).expect("truncate");
    run_apply(&v.store, &v.target, v.change.clone(), FilesCache::default());
    assert!(target_content(&v) == v.new, "the new version after a short old file");

    fs::remove_file(v.target.join("db")).expect("rm");
    run_apply(&v.store, &v.target, v.change.clone(), v.cache.clone());
    assert!(target_content(&v) == v.new, "the new version with no old file");
}
