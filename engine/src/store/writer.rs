//! Appends blobs to the open pack and closes it at the target size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::codec::pack::{self, BlobKind, Compression, PackEntry, MAX_PACK_LEN};
use crate::error::{Error, Result};
use crate::fsio;
use crate::id::{BlobId, PackId};

/// Packs close once they pass this size: large enough that a 1 GiB folder is a few dozen
/// files, small enough to stay far below the 100 MiB a git host accepts for one blob.
pub const DEFAULT_PACK_TARGET: u64 = 32 << 20;

/// Compresses a blob with zstd, or returns `None` when that would not make it smaller, so
/// incompressible data (media, already compressed files) is stored as is.
pub fn compress(raw: &[u8], level: i32) -> (Compression, Option<Vec<u8>>) {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let compressed = COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = zstd::bulk::Compressor::new(level).ok();
        }
        cell.as_mut().and_then(|c| c.compress(raw).ok())
    });
    match compressed {
        Some(bytes) if bytes.len() < raw.len() => (Compression::Zstd, Some(bytes)),
        _ => (Compression::None, None),
    }
}

struct OpenPack {
    path: PathBuf,
    out: BufWriter<File>,
    hasher: blake3::Hasher,
    len: u64,
    entries: Vec<PackEntry>,
    ids: rustc_hash::FxHashMap<BlobId, usize>,
}

pub struct PackWriter {
    root: PathBuf,
    target: u64,
    open: Option<OpenPack>,
}

/// A pack that was just closed: its id and its entries.
pub type FinishedPack = (PackId, Vec<PackEntry>);

impl PackWriter {
    pub fn new(root: &Path, _level: i32, target: u64) -> Self {
        Self { root: root.to_path_buf(), target: target.min(MAX_PACK_LEN / 2), open: None }
    }

    pub fn has(&self, id: &BlobId) -> bool {
        self.open.as_ref().is_some_and(|p| p.ids.contains_key(id))
    }

    /// Appends a stored blob; returns the packs it closed (usually none, at most two), for
    /// the caller to finish, outside any lock it holds: finishing syncs the file.
    pub fn append(
        &mut self,
        kind: BlobKind,
        id: BlobId,
        compression: Compression,
        raw_len: usize,
        stored: &[u8],
    ) -> Result<Vec<ClosingPack>> {
        if self.has(&id) {
            return Ok(Vec::new());
        }
        let mut closed = Vec::new();
        let needed = stored.len() as u64 + (pack::ENTRY_LEN + pack::FOOTER_LEN) as u64;
        if self.open.as_ref().is_some_and(|p| p.len + needed + p.entries.len() as u64 * 52 > MAX_PACK_LEN) {
            closed.extend(self.close());
        }
        if self.open.is_none() {
            self.open = Some(self.start()?);
        }
        let open = self.open.as_mut().expect("opened above");
        open.out.write_all(stored).map_err(Error::io("writing pack", &open.path))?;
        open.hasher.update(stored);
        open.ids.insert(id, open.entries.len());
        open.entries.push(PackEntry {
            id,
            kind,
            compression,
            stored_len: stored.len() as u32,
            raw_len: raw_len as u32,
            offset: open.len,
        });
        open.len += stored.len() as u64;
        if open.len >= self.target {
            closed.extend(self.close());
        }
        Ok(closed)
    }

    fn start(&self) -> Result<OpenPack> {
        let path = fsio::temp_beside(&self.root.join("tmp").join("pack"));
        let file = File::create(&path).map_err(Error::io("creating pack", &path))?;
        let mut open = OpenPack {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            hasher: blake3::Hasher::new(),
            len: 0,
            entries: Vec::new(),
            ids: Default::default(),
        };
        let header = pack::encode_header();
        open.out.write_all(&header).map_err(Error::io("writing pack", &open.path))?;
        open.hasher.update(&header);
        open.len = header.len() as u64;
        Ok(open)
    }

    /// Takes the open pack out of the writer, to be finished; the next blob starts a new one.
    fn close(&mut self) -> Option<ClosingPack> {
        self.open.take().map(|open| ClosingPack { open, root: self.root.clone() })
    }

    /// Finishes the open pack, if any.
    pub fn finish(&mut self) -> Result<Option<FinishedPack>> {
        self.close().map(ClosingPack::finish).transpose()
    }
}

/// A full pack taken out of the writer: complete but for its trailer, sync and name.
pub struct ClosingPack {
    open: OpenPack,
    root: PathBuf,
}

impl ClosingPack {
    /// Writes the trailer, syncs, and renames the pack to its id. Write ordering: the pack
    /// is durable under its final name before any index or tree names its blobs. (If this
    /// fails, the temporary file stays in `tmp/`, which every store open empties.)
    pub fn finish(self) -> Result<FinishedPack> {
        let ClosingPack { mut open, root } = self;
        let trailer = pack::encode_trailer(&open.entries, open.len);
        open.out.write_all(&trailer).map_err(Error::io("writing pack", &open.path))?;
        open.hasher.update(&trailer);
        let file = open.out.into_inner().map_err(|e| Error::io("writing pack", &open.path)(e.into_error()))?;
        file.sync_all().map_err(Error::io("syncing pack", &open.path))?;
        let id = PackId(*open.hasher.finalize().as_bytes());
        let final_path = super::pack_path(&root, &id);
        std::fs::rename(&open.path, &final_path).map_err(Error::io("renaming pack", &final_path))?;
        fsio::fsync_dir(&root.join("packs"))?;
        crate::fault::point("pack-written");
        Ok((id, open.entries))
    }
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        // An unfinished pack names nothing that was recorded; drop its temporary file.
        if let Some(open) = self.open.take() {
            let _ = std::fs::remove_file(&open.path);
        }
    }
}
