//! Helpers shared by the engine's integration tests.

use std::path::Path;
use std::sync::Mutex;

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
