//! The files cache: for each file of a data folder, the metadata it had when it was last
//! read or written, and its chunks. A file whose size, mtime, ctime and inode all match is
//! not read again: that is what makes an unchanged push cost one `stat` per file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::codec::postcard_exact;
use crate::error::Result;
use crate::fsio;
use crate::id::ChunkId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub inode: u64,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedFile {
    pub stamp: FileStamp,
    pub chunks: Vec<ChunkId>,
}

/// Relative path (components joined by `/`, raw bytes) → cached file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FilesCache {
    pub files: rustc_hash::FxHashMap<Vec<u8>, CachedFile>,
}

const VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct OnDisk {
    files: Vec<(serde_bytes::ByteBuf, CachedFile)>,
}

#[derive(Serialize)]
struct OnDiskRef<'a> {
    files: Vec<(&'a serde_bytes::Bytes, &'a CachedFile)>,
}

impl FilesCache {
    /// Loads the cache; a missing or unreadable one is empty (it is only an accelerator).
    pub fn load(path: &Path) -> Result<FilesCache> {
        Ok(fsio::read_optional(path)?.map(|bytes| Self::decode(&bytes)).unwrap_or_default())
    }

    /// Decodes a cache file; anything malformed gives an empty cache. Pure, for fuzzing.
    pub fn decode(bytes: &[u8]) -> FilesCache {
        let Some((&VERSION, body)) = bytes.split_first() else { return FilesCache::default() };
        let Ok(disk) = postcard_exact::<OnDisk>("files cache", body) else { return FilesCache::default() };
        let mut files = rustc_hash::FxHashMap::with_capacity_and_hasher(disk.files.len(), Default::default());
        files.extend(disk.files.into_iter().map(|(k, v)| (k.into_vec(), v)));
        FilesCache { files }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        // Borrowed, encoded exactly as `OnDisk`: a copy of every entry was a second cache
        // in memory at the end of each push that changed files.
        let disk = OnDiskRef { files: self.files.iter().map(|(k, v)| (serde_bytes::Bytes::new(k), v)).collect() };
        let mut out = vec![VERSION];
        postcard::to_io(&disk, &mut out).expect("writing to a Vec cannot fail");
        fsio::write_atomic(path, &out)
    }

    pub fn get(&self, path: &[u8], stamp: &FileStamp) -> Option<&[ChunkId]> {
        self.files.get(path).filter(|c| &c.stamp == stamp).map(|c| c.chunks.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_cache_is_encoded_as_the_owned_layout_and_reads_back() {
        let stamp = |n: u64| FileStamp { size: n, mtime_ns: -(n as i64), ctime_ns: 7, inode: n * 3, mode: 0o644 };
        let mut cache = FilesCache::default();
        cache.files.insert(b"a/b.json".to_vec(), CachedFile { stamp: stamp(1), chunks: vec![ChunkId([5; 32])] });
        cache.files.insert(b"empty".to_vec(), CachedFile { stamp: stamp(0), chunks: Vec::new() });
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("files");
        cache.save(&path).expect("save");
        let saved = std::fs::read(&path).expect("read");

        let owned = OnDisk {
            files: cache.files.iter().map(|(k, v)| (serde_bytes::ByteBuf::from(k.clone()), v.clone())).collect(),
        };
        let mut expected = vec![VERSION];
        postcard::to_io(&owned, &mut expected).expect("encode");
        assert_eq!(saved, expected, "the borrowed encoding differs from the format");
        assert_eq!(FilesCache::decode(&saved), cache);
    }
}
