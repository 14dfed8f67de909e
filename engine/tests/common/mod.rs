//! Helpers shared by the engine's integration tests.

use std::path::Path;
use std::sync::Mutex;

use pods_engine::codec::tree::Entry;
use pods_engine::filecache::FilesCache;
use pods_engine::progress::{Interrupt, NoProgress};
use pods_engine::snapshot::{self, Snapshot};
use pods_engine::store::Store;

/// Snapshots `folder` into `store` starting from `cache`, without progress or interrupts.
pub fn snapshot_with(store: &Store, folder: &Path, cache: FilesCache) -> Snapshot {
    let cache = Mutex::new(cache);
    let interrupt = Interrupt::default();
    let ctx = snapshot::Context {
        store,
        cache: &cache,
        progress: &NoProgress,
        interrupt: &interrupt,
        remove_leftovers: false,
    };
    snapshot::snapshot(folder, &ctx).expect("snapshot")
}

/// The entry `name` at the top of a fresh snapshot of `folder`, its blobs flushed.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn snapshot_entry(store: &Store, folder: &Path, name: &str) -> Entry {
    let root = snapshot_with(store, folder, FilesCache::default()).root;
    store.flush().expect("flush");
    let tree = store.read_tree(&root).expect("tree");
    tree.entries.into_iter().find(|e| e.name == name.as_bytes()).expect("entry")
}
