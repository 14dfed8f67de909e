//! The files cache across snapshots: entries of unchanged files carry over (moved, not
//! re-read), and the cache counts as changed exactly when a file was read or one is gone,
//! which is when a push writes it.

mod common;

use std::fs;

use common::snapshot_with;
use pods_engine::filecache::FilesCache;
use pods_engine::store::Store;

#[test]
fn cache_carries_unchanged_files_and_notices_reads_and_removals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("store")).expect("store");
    let folder = dir.path().join("data");
    fs::create_dir_all(folder.join("sub")).expect("mkdir");
    fs::write(folder.join("a.json"), b"{\"a\": 1}").expect("write");
    fs::write(folder.join("sub/b.bin"), vec![7u8; 300_000]).expect("write");
    fs::write(folder.join("empty"), b"").expect("write");

    let first = snapshot_with(&store, &folder, FilesCache::default());
    assert!(first.cache_changed, "a first snapshot reads every file");
    assert_eq!(first.cache.files.len(), 3);

    let again = snapshot_with(&store, &folder, first.cache.clone());
    assert!(!again.cache_changed, "nothing changed, so nothing to write");
    assert_eq!(again.cache, first.cache, "every entry carried over as it was");
    assert_eq!(again.root, first.root);

    fs::remove_file(folder.join("empty")).expect("rm");
    let removed = snapshot_with(&store, &folder, again.cache.clone());
    assert!(removed.cache_changed, "a file is gone: its entry must not stay");
    assert!(!removed.cache.files.contains_key(b"empty".as_slice()));
    assert_eq!(removed.cache.files.len(), 2);

    fs::write(folder.join("a.json"), b"{\"a\": 22}").expect("write");
    let edited = snapshot_with(&store, &folder, removed.cache.clone());
    assert!(edited.cache_changed, "a file was read again");
    assert_ne!(edited.cache.files[b"a.json".as_slice()], removed.cache.files[b"a.json".as_slice()]);
    assert_eq!(edited.cache.files[b"sub/b.bin".as_slice()], removed.cache.files[b"sub/b.bin".as_slice()]);
}
