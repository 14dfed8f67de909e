//! `FilesCache::decode`: never panics (malformed input gives an empty cache), and `get`
//! finds every decoded file under its own stamp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pods_engine::filecache::FilesCache;

fuzz_target!(|data: &[u8]| {
    let cache = FilesCache::decode(data);
    if data.first() != Some(&1) {
        assert!(cache.files.is_empty(), "a cache without version byte 1 decoded to files");
    }
    for (path, file) in &cache.files {
        assert_eq!(cache.get(path, &file.stamp), Some(file.chunks.as_slice()));
    }
});
