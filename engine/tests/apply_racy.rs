//! A program writes a file while a pull copies it unread (the files cache vouched for it):
//! the stamp checked after the copy notices, and the file is written again from checked
//! chunks. Alone in its test binary, since it sets the environment.

mod common;

use std::fs;

use common::snapshot_entry;
use pods_engine::apply;
use pods_engine::filecache::FilesCache;
use pods_engine::merge::Change;
use pods_engine::progress::{Interrupt, NoProgress};
use pods_engine::store::Store;

#[test]
fn a_file_written_while_it_is_copied_unread_is_written_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("target");
    let path = target.join("db");
    let script = format!("printf 'scribbled by the program' | dd of='{}' conv=notrunc status=none", path.display());
    // Set before anything reads it (pods reads it once): the point is reached only by the
    // second apply, the first one that replaces a file.
    std::env::set_var("PODS_TEST_RUN_AT", format!("apply-old-file-checked={script}"));
    let store = Store::open(&dir.path().join("store")).expect("store");
    let old: Vec<u8> = (0..6u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut new = old.clone();
    new[3_000_000..3_000_010].fill(1);

    // Snapshot both versions, then write the old one into `target` as a pull would.
    let source = dir.path().join("source");
    fs::create_dir_all(&source).expect("mkdir");
    let mut entries = Vec::new();
    for content in [&old, &new] {
        fs::write(source.join("db"), content).expect("write");
        entries.push(snapshot_entry(&store, &source, "db"));
    }
    fs::create_dir_all(&target).expect("mkdir");
    let mut cache = FilesCache::default();
    let create = Change { path: b"db".to_vec(), from: None, to: Some(entries[0].clone()) };
    apply::apply(&store, &target, &[create], &mut cache, &NoProgress, &Interrupt::default()).expect("apply");

    // Now the program overwrites the file's first bytes right after pods checked its stamp
    // and before the kernel copies it: only the check after the copy can notice.
    let change = Change { path: b"db".to_vec(), from: Some(entries[0].clone()), to: Some(entries[1].clone()) };
    apply::apply(&store, &target, &[change], &mut cache, &NoProgress, &Interrupt::default()).expect("apply");
    let written = fs::read(&path).expect("read");
    assert!(!written.starts_with(b"scribbled"), "the program's bytes were copied into the pulled version");
    assert!(written == new, "the new version, byte for byte");
}
