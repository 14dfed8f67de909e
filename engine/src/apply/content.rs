//! Writes one file's bytes from its chunk list. A large file is cut into pieces written in
//! parallel at their offsets, so one 180 MiB database does not keep a single core busy
//! while the other idles. Chunks the file being replaced already holds come from it, not
//! from the store:
//! - while that file keeps the stamp (size, times, inode) the files cache recorded its
//!   chunks with, by copy_file_range: the kernel copies without passing the bytes through
//!   pods, and on XFS or btrfs shares the blocks instead of copying them. That is the trust
//!   the files cache already gives a stamp; the stamp is checked again once the file is
//!   written, and a file changed meanwhile is written again.
//! - otherwise read back and checked against their ids; a chunk that no longer matches (the
//!   program wrote the file since it was snapshotted) is taken from the store.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::filecache::FileStamp;
use crate::id::{BlobId, ChunkId};
use crate::progress::Progress;
use crate::snapshot::stamp_of;
use crate::store::Store;

/// Bytes gathered before one write, and the most one read from the old file covers.
const WRITE_SIZE: usize = 1 << 20;
/// Files are written in pieces of about this size, in parallel.
const PIECE_SIZE: u64 = 8 << 20;

/// The file a pull replaces, with where each of its chunks lies.
pub struct OldFile {
    file: File,
    chunks: FxHashMap<ChunkId, (u64, usize)>,
    /// The stamp its chunks were recorded with, if it still has it.
    stamp: Option<FileStamp>,
    /// Ranges may be copied unread (the stamp matched and copy_file_range works here).
    copy_unread: AtomicBool,
    /// Some range was copied unread, so the stamp must still match at the end.
    copied_unread: AtomicBool,
}

impl OldFile {
    /// `None` when the file cannot be opened or a chunk's length is unknown: the new file is
    /// then written from the store alone. `stamp` is what the files cache recorded `chunks`
    /// with.
    pub fn open(store: &Store, path: &Path, chunks: &[ChunkId], stamp: Option<&FileStamp>) -> Option<OldFile> {
        let file = File::open(path).ok()?;
        let stamp = stamp.filter(|&s| file.metadata().is_ok_and(|m| stamp_of(&m) == *s)).cloned();
        // A program may write the file from here on: tests do, at this point.
        crate::fault::point("apply-old-file-checked");
        let mut offsets = FxHashMap::default();
        let mut offset = 0u64;
        for chunk in chunks {
            let len = chunk_len(store, chunk)?;
            offsets.entry(*chunk).or_insert((offset, len));
            offset += len as u64;
        }
        let copy_unread = AtomicBool::new(stamp.is_some());
        Some(OldFile { file, chunks: offsets, stamp, copy_unread, copied_unread: AtomicBool::new(false) })
    }

    /// False if ranges were copied unread and the file no longer has its stamp: the program
    /// using the folder wrote it while it was being copied.
    fn still_as_recorded(&self) -> bool {
        !self.copied_unread.load(Ordering::Relaxed)
            || self.file.metadata().is_ok_and(|m| Some(stamp_of(&m)) == self.stamp)
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
    // Most chunks of a changed file are the old file's, whose lengths are already known.
    let len_of =
        |c: &ChunkId| old.and_then(|old| old.chunks.get(c)).map(|&(_, len)| len).or_else(|| chunk_len(store, c));
    let lens = chunks
        .iter()
        .map(|c| len_of(c).ok_or_else(|| Error::Corrupt(format!("blob {} is not in any pack", c.short()))))
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
    let write_pieces = || {
        pieces.par_iter().with_max_len(1).try_for_each(|(start, range)| {
            let writer = PieceWriter { store, file, path, old, progress };
            writer.write(*start, &chunks[range.clone()], &lens[range.clone()])
        })
    };
    write_pieces()?;
    if let Some(old) = old.filter(|old| !old.still_as_recorded()) {
        old.copy_unread.store(false, Ordering::Relaxed);
        file.set_len(0).map_err(|e| super::cannot_write(path, e))?;
        write_pieces()?;
    }
    Ok(())
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
            let copied = run > i
                && (self.copy_unread(&chunks[i], &lens[i..run], &mut offset, &mut out)?
                    || self.copy_old(&chunks[i..run], &lens[i..run], &mut out, &mut blob)?);
            if copied {
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

    /// Copies a run of chunks (starting with `first`) from the old file with
    /// copy_file_range, after writing out what `out` holds. False when that is not allowed
    /// or does not work here; what it copied is then written over.
    fn copy_unread(&self, first: &ChunkId, lens: &[usize], offset: &mut u64, out: &mut Vec<u8>) -> Result<bool> {
        let old = self.old.expect("runs come from the old file");
        if !old.copy_unread.load(Ordering::Relaxed) {
            return Ok(false);
        }
        self.flush(offset, out)?;
        let (mut from, mut to) = (old.chunks[first].0, *offset);
        let len: usize = lens.iter().sum();
        let mut left = len;
        while left > 0 {
            match rustix::fs::copy_file_range(&old.file, Some(&mut from), self.file, Some(&mut to), left) {
                Ok(n) if n > 0 => left -= n,
                Err(rustix::io::Errno::NOSPC) => {
                    return Err(super::cannot_write(self.path, std::io::Error::from_raw_os_error(28)))
                }
                // The old file is shorter than recorded, or the kernel or file system
                // cannot copy ranges: read instead, for the rest of this file.
                _ => {
                    old.copy_unread.store(false, Ordering::Relaxed);
                    return Ok(false);
                }
            }
        }
        old.copied_unread.store(true, Ordering::Relaxed);
        *offset += len as u64;
        self.progress.advance(len as u64);
        Ok(true)
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
