//! Writes one file's bytes from its chunk list. A large file is cut into pieces written in
//! parallel at their offsets, so one 180 MiB database does not keep a single core busy
//! while the other idles. Chunks the file being replaced already holds are copied from it
//! (after checking they still hash to their ids) instead of decompressed from the store:
//! a small change to a large file costs a copy of the file, not a decompression of it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::id::{BlobId, ChunkId};
use crate::progress::Progress;
use crate::store::Store;

/// Bytes gathered before one write, and the most one read from the old file covers.
const WRITE_SIZE: usize = 1 << 20;
/// Files are written in pieces of about this size, in parallel.
const PIECE_SIZE: u64 = 8 << 20;

/// The file a pull replaces, with where each of its chunks lies.
pub struct OldFile {
    file: File,
    chunks: FxHashMap<ChunkId, (u64, usize)>,
}

impl OldFile {
    /// `None` when the file cannot be opened or a chunk's length is unknown: the new file is
    /// then written from the store alone.
    pub fn open(store: &Store, path: &Path, chunks: &[ChunkId]) -> Option<OldFile> {
        let file = File::open(path).ok()?;
        let mut offsets = FxHashMap::default();
        let mut offset = 0u64;
        for chunk in chunks {
            let len = chunk_len(store, chunk)?;
            offsets.entry(*chunk).or_insert((offset, len));
            offset += len as u64;
        }
        Some(OldFile { file, chunks: offsets })
    }
}

fn chunk_len(store: &Store, chunk: &ChunkId) -> Option<usize> {
    store.location(&BlobId::from(*chunk)).map(|l| l.entry.raw_len as usize)
}

/// Writes `chunks` into `file` (new and empty), checking they add up to `size`.
pub fn write_file(
    store: &Store,
    file: &File,
    path: &Path,
    chunks: &[ChunkId],
    size: u64,
    old: Option<&OldFile>,
    progress: &dyn Progress,
) -> Result<()> {
    let lens = chunks
        .iter()
        .map(|c| chunk_len(store, c).ok_or_else(|| Error::Corrupt(format!("blob {} is not in any pack", c.short()))))
        .collect::<Result<Vec<_>>>()?;
    let total: u64 = lens.iter().map(|&l| l as u64).sum();
    if total != size {
        return Err(Error::Corrupt(format!(
            "{}: the version says {size} bytes but its chunks hold {total}",
            path.display()
        )));
    }
    let mut pieces = Vec::new();
    let (mut start, mut offset, mut first) = (0u64, 0u64, 0usize);
    for (i, &len) in lens.iter().enumerate() {
        offset += len as u64;
        if offset - start >= PIECE_SIZE || i + 1 == lens.len() {
            pieces.push((start, first..i + 1));
            (start, first) = (offset, i + 1);
        }
    }
    pieces.into_par_iter().with_max_len(1).try_for_each(|(start, range)| {
        let writer = PieceWriter { store, file, path, old, progress };
        writer.write(start, &chunks[range.clone()], &lens[range])
    })
}

struct PieceWriter<'a> {
    store: &'a Store,
    file: &'a File,
    path: &'a Path,
    old: Option<&'a OldFile>,
    progress: &'a dyn Progress,
}

impl PieceWriter<'_> {
    fn write(&self, mut offset: u64, chunks: &[ChunkId], lens: &[usize]) -> Result<()> {
        let mut out = Vec::with_capacity(WRITE_SIZE * 2);
        let mut blob = Vec::new();
        let mut i = 0;
        while i < chunks.len() {
            let run = self.old_run(chunks, lens, i);
            if run > i && self.copy_old(&chunks[i..run], &lens[i..run], &mut out, &mut blob)? {
                i = run;
            } else {
                self.store.read_into(&BlobId::from(chunks[i]), &mut blob)?;
                out.extend_from_slice(&blob);
                i += 1;
            }
            if out.len() >= WRITE_SIZE {
                self.flush(&mut offset, &mut out)?;
            }
        }
        self.flush(&mut offset, &mut out)
    }

    /// The end of the run of chunks from `i` that lie back to back in the old file (`i`
    /// when chunk `i` is not there), at most `WRITE_SIZE` bytes long.
    fn old_run(&self, chunks: &[ChunkId], lens: &[usize], i: usize) -> usize {
        let Some(old) = self.old else { return i };
        let Some(&(start, _)) = old.chunks.get(&chunks[i]) else { return i };
        let (mut end, mut next) = (i, start);
        while end < chunks.len() && next - start < WRITE_SIZE as u64 {
            match old.chunks.get(&chunks[end]) {
                Some(&(at, len)) if at == next && len == lens[end] => next += len as u64,
                _ => break,
            }
            end += 1;
        }
        end
    }

    /// Appends a run of chunks read from the old file to `out`. A chunk that no longer
    /// hashes to its id (the program using the folder wrote the file since it was
    /// snapshotted) is taken from the store instead. False when the old file cannot be read.
    fn copy_old(&self, chunks: &[ChunkId], lens: &[usize], out: &mut Vec<u8>, blob: &mut Vec<u8>) -> Result<bool> {
        let old = self.old.expect("runs come from the old file");
        let (start, _) = old.chunks[&chunks[0]];
        let at = out.len();
        out.resize(at + lens.iter().sum::<usize>(), 0);
        if old.file.read_exact_at(&mut out[at..], start).is_err() {
            out.truncate(at);
            return Ok(false);
        }
        let mut pos = at;
        for (chunk, &len) in chunks.iter().zip(lens) {
            let bytes = &mut out[pos..pos + len];
            if blake3::hash(bytes).as_bytes() != &chunk.0 {
                self.store.read_into(&BlobId::from(*chunk), blob)?;
                if blob.len() != len {
                    return Err(Error::Corrupt(format!("blob {}: two lengths in the index", chunk.short())));
                }
                bytes.copy_from_slice(blob);
            }
            pos += len;
        }
        Ok(true)
    }

    fn flush(&self, offset: &mut u64, out: &mut Vec<u8>) -> Result<()> {
        self.file.write_all_at(out, *offset).map_err(|e| super::cannot_write(self.path, e))?;
        *offset += out.len() as u64;
        self.progress.advance(out.len() as u64);
        out.clear();
        Ok(())
    }
}
