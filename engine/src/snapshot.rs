//! Turns a data folder into a tree in the store: walk, read what changed, chunk, hash,
//! deduplicate, compress. Directories and files are processed in parallel (rayon), and the
//! chunks of a large file are hashed and compressed in parallel too.

use std::fs::{self, File, Metadata};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde_bytes::ByteBuf;

use crate::chunker::Cut;
use crate::codec::pack::BlobKind;
use crate::codec::tree::{Entry, Node, Tree};
use crate::codec::version::Stats;
use crate::error::{Error, Result};
use crate::filecache::{CachedFile, FileStamp, FilesCache};
use crate::fsio::TEMP_PREFIX;
use crate::id::{BlobId, ChunkId, TreeId};
use crate::progress::{Interrupt, Phase, Progress};
use crate::store::Store;

/// Bytes read from a file at a time. A chunk is only cut once the chunker has seen its
/// maximum length past the chunk's start (or the end of the file), so boundaries are the
/// same as when chunking the whole file at once.
const WINDOW: usize = 8 << 20;

/// Files from this size on read through a full window taken from [`WINDOWS`].
const POOLED_FROM: usize = 1 << 20;

/// Full windows, reused from file to file: allocating one for each large file left the
/// freed ones scattered through malloc's arenas (a first push of 1 GiB peaked at 110 MiB
/// RSS on a 61 MiB heap). Kept to a few: rayon may read more files at once while it waits.
static WINDOWS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const WINDOWS_KEPT: usize = 4;

/// A file's read buffer: sized to a small file, a pooled full window for a large one.
struct ReadBuffer(Vec<u8>);

impl ReadBuffer {
    fn for_file(size_hint: u64, full: usize) -> Self {
        // Sized to the file: a window-sized buffer per small file was 30 % of a first push
        // (zeroing 8 MiB for each 4 KiB JSON file). One byte more than the size sees EOF.
        let wanted = (size_hint as usize).saturating_add(1).min(full);
        if wanted < POOLED_FROM {
            return ReadBuffer(vec![0; wanted]);
        }
        let pooled = WINDOWS.lock().expect("windows lock").pop().filter(|b| b.len() == full);
        ReadBuffer(pooled.unwrap_or_else(|| vec![0; full]))
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        if self.0.len() >= POOLED_FROM {
            let mut windows = WINDOWS.lock().expect("windows lock");
            if windows.len() < WINDOWS_KEPT {
                windows.push(std::mem::take(&mut self.0));
            }
        }
    }
}

/// How many times a file that changes while it is read is read again before giving up.
const TORN_RETRIES: usize = 3;

pub struct Snapshot {
    pub root: TreeId,
    pub stats: Stats,
    /// Every blob the tree references (its trees and its files' chunks).
    pub blobs: Vec<BlobId>,
    /// The files cache for the next snapshot of the same folder.
    pub cache: FilesCache,
    /// The cache differs from the one the snapshot started from (worth writing).
    pub cache_changed: bool,
}

pub struct Context<'a> {
    pub store: &'a Store,
    /// The files cache of the last snapshot. Entries are moved out as their files turn out
    /// unchanged: a copy of each was a second cache in memory (200 000 files: 20 MiB).
    pub cache: &'a Mutex<FilesCache>,
    pub progress: &'a dyn Progress,
    pub interrupt: &'a Interrupt,
    /// Delete `.pods-tmp-*` files left by a killed pull (only while holding the home lock).
    pub remove_leftovers: bool,
}

/// What the walk found, before any file is read.
enum Scanned {
    File { name: Vec<u8>, stamp: FileStamp },
    Dir { name: Vec<u8>, mode: u32, mtime_ns: i64, children: Vec<Scanned> },
    Symlink { name: Vec<u8>, mtime_ns: i64, target: Vec<u8> },
}

impl Scanned {
    fn name(&self) -> &[u8] {
        match self {
            Scanned::File { name, .. } | Scanned::Dir { name, .. } | Scanned::Symlink { name, .. } => name,
        }
    }
}

pub fn stamp_of(meta: &Metadata) -> FileStamp {
    FileStamp {
        size: meta.len(),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        inode: meta.ino(),
        mode: meta.mode() & 0o7777,
    }
}

/// Snapshots `data_dir` into the store. The store is not flushed: the caller does that
/// once, after the whole operation.
pub fn snapshot(data_dir: &Path, ctx: &Context) -> Result<Snapshot> {
    let children = scan_dir(data_dir, ctx)?;
    let (mut to_read, mut unread_files) = (0, 0);
    let previous_len = {
        let previous = ctx.cache.lock().expect("cache lock");
        sum_unread(&children, b"", &previous, &mut to_read, &mut unread_files);
        previous.files.len()
    };
    ctx.progress.begin(Phase::Snapshot, to_read);
    // Sized like the last one: growing it by doubling held both tables at once.
    let files = rustc_hash::FxHashMap::with_capacity_and_hasher(previous_len, Default::default());
    let cache = Mutex::new(FilesCache { files });
    let built = build_dir(data_dir, b"", &children, ctx, &cache)?;
    ctx.progress.end(Phase::Snapshot);
    let cache = cache.into_inner().expect("cache lock");
    // Changed when a file was read, or a cached one is gone (its entry was not moved).
    let cache_changed = unread_files > 0 || !ctx.cache.lock().expect("cache lock").files.is_empty();
    Ok(Snapshot { root: built.id, stats: built.stats, blobs: built.blobs, cache, cache_changed })
}

fn join(rel: &[u8], name: &[u8]) -> Vec<u8> {
    if rel.is_empty() {
        name.to_vec()
    } else {
        [rel, b"/", name].concat()
    }
}

fn scan_dir(dir: &Path, ctx: &Context) -> Result<Vec<Scanned>> {
    ctx.interrupt.check()?;
    let listing = fs::read_dir(dir).map_err(|e| unreadable(dir, e))?;
    let mut paths = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| unreadable(dir, e))?;
        if entry.file_name().as_bytes().starts_with(TEMP_PREFIX) {
            if ctx.remove_leftovers {
                let _ = fs::remove_file(entry.path());
            }
            continue;
        }
        paths.push(entry.path());
    }
    let scanned: Vec<Option<Scanned>> = paths.par_iter().map(|path| scan_one(path, ctx)).collect::<Result<_>>()?;
    let mut children: Vec<Scanned> = scanned.into_iter().flatten().collect();
    children.sort_unstable_by(|a, b| a.name().cmp(b.name()));
    Ok(children)
}

fn scan_one(path: &Path, ctx: &Context) -> Result<Option<Scanned>> {
    let meta = fs::symlink_metadata(path).map_err(|e| unreadable(path, e))?;
    let name = path.file_name().expect("listed entries have names").as_bytes().to_vec();
    let kind = meta.file_type();
    let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
    Ok(Some(if kind.is_file() {
        Scanned::File { name, stamp: stamp_of(&meta) }
    } else if kind.is_dir() {
        Scanned::Dir { name, mode: meta.mode() & 0o7777, mtime_ns, children: scan_dir(path, ctx)? }
    } else if kind.is_symlink() {
        let target = fs::read_link(path).map_err(|e| unreadable(path, e))?;
        Scanned::Symlink { name, mtime_ns, target: target.as_os_str().as_bytes().to_vec() }
    } else {
        let what = if kind.is_fifo() {
            "fifo"
        } else if kind.is_socket() {
            "socket"
        } else {
            "device"
        };
        ctx.progress.warn(&format!("skipped {} (a {what}: pods stores files, folders and symlinks)", path.display()));
        return Ok(None);
    }))
}

fn unreadable(path: &Path, e: std::io::Error) -> Error {
    Error::DataDir(format!(
        "cannot read {}: {e}. Fix its permissions or move it out of the data folder, then run the command again",
        path.display()
    ))
}

fn sum_unread(children: &[Scanned], rel: &[u8], cache: &FilesCache, total: &mut u64, files: &mut usize) {
    for child in children {
        match child {
            Scanned::File { name, stamp } if cache.get(&join(rel, name), stamp).is_none() => {
                *total += stamp.size;
                *files += 1;
            }
            Scanned::Dir { name, children, .. } => sum_unread(children, &join(rel, name), cache, total, files),
            _ => {}
        }
    }
}

struct Built {
    id: TreeId,
    stats: Stats,
    blobs: Vec<BlobId>,
}

fn add(stats: &mut Stats, other: &Stats) {
    stats.files += other.files;
    stats.dirs += other.dirs;
    stats.symlinks += other.symlinks;
    stats.bytes += other.bytes;
}

fn build_dir(dir: &Path, rel: &[u8], children: &[Scanned], ctx: &Context, cache: &Mutex<FilesCache>) -> Result<Built> {
    let built: Vec<(Entry, Stats, Vec<BlobId>)> = children
        .par_iter()
        .map(|child| -> Result<(Entry, Stats, Vec<BlobId>)> {
            ctx.interrupt.check()?;
            let child_rel = join(rel, child.name());
            let path = dir.join(std::ffi::OsStr::from_bytes(child.name()));
            match child {
                Scanned::File { name, stamp } => {
                    let (stamp, chunks) = file_chunks(&path, &child_rel, stamp, ctx)?;
                    let entry = Entry {
                        name: name.clone(),
                        mode: stamp.mode,
                        mtime_ns: stamp.mtime_ns,
                        node: Node::File { size: stamp.size, chunks: chunks.clone() },
                    };
                    let blobs = chunks.iter().map(|c| BlobId::from(*c)).collect();
                    cache
                        .lock()
                        .expect("cache lock")
                        .files
                        .insert(child_rel, CachedFile { stamp: stamp.clone(), chunks });
                    Ok((entry, Stats { files: 1, bytes: stamp.size, ..Stats::default() }, blobs))
                }
                Scanned::Dir { name, mode, mtime_ns, children } => {
                    let sub = build_dir(&path, &child_rel, children, ctx, cache)?;
                    let entry = Entry { name: name.clone(), mode: *mode, mtime_ns: *mtime_ns, node: Node::Dir(sub.id) };
                    let mut stats = sub.stats;
                    stats.dirs += 1;
                    Ok((entry, stats, sub.blobs))
                }
                Scanned::Symlink { name, mtime_ns, target } => {
                    let entry = Entry {
                        name: name.clone(),
                        mode: 0,
                        mtime_ns: *mtime_ns,
                        node: Node::Symlink(ByteBuf::from(target.clone())),
                    };
                    Ok((entry, Stats { symlinks: 1, ..Stats::default() }, Vec::new()))
                }
            }
        })
        .collect::<Result<_>>()?;
    let mut tree = Tree { entries: Vec::with_capacity(built.len()) };
    let mut stats = Stats::default();
    let mut blobs = Vec::new();
    for (entry, child_stats, child_blobs) in built {
        tree.entries.push(entry);
        add(&mut stats, &child_stats);
        blobs.extend(child_blobs);
    }
    let id = ctx.store.put_tree(&tree)?;
    blobs.push(id.into());
    Ok(Built { id, stats, blobs })
}

/// The chunks of one file: from the cache if its stamp is unchanged, else by reading it.
/// A file that changes while being read is read again; if it keeps changing, the snapshot
/// fails rather than record a torn file.
fn file_chunks(path: &Path, rel: &[u8], stamp: &FileStamp, ctx: &Context) -> Result<(FileStamp, Vec<ChunkId>)> {
    let cached = ctx.cache.lock().expect("cache lock").files.remove(rel);
    if let Some(cached) = cached.filter(|c| &c.stamp == stamp) {
        return Ok((cached.stamp, cached.chunks));
    }
    let mut stamp = stamp.clone();
    for _ in 0..TORN_RETRIES {
        let mut file = File::open(path).map_err(|e| unreadable(path, e))?;
        let chunks = read_chunks(&mut file, path, stamp.size, ctx)?;
        crate::fault::write_during_read(path);
        let after = stamp_of(&file.metadata().map_err(|e| unreadable(path, e))?);
        if after == stamp {
            return Ok((stamp, chunks));
        }
        stamp = after;
    }
    Err(Error::DataDir(format!(
        "{} kept changing while it was read ({TORN_RETRIES} tries). Pause the program writing it, then push again",
        path.display()
    )))
}

fn read_chunks(file: &mut File, path: &Path, size_hint: u64, ctx: &Context) -> Result<Vec<ChunkId>> {
    let params = ctx.store.config.chunker;
    let max = params.max as usize;
    let mut chunks = Vec::new();
    let mut window = ReadBuffer::for_file(size_hint, WINDOW + max);
    let buf = &mut window.0;
    let mut filled = 0;
    let mut eof = false;
    let mut cut = None;
    while !eof {
        ctx.interrupt.check()?;
        // Refill the window after the carried-over tail of the previous one.
        while filled < buf.len() {
            match file.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(unreadable(path, e)),
            }
        }
        let data = &buf[..filled];
        let cut = *cut.get_or_insert_with(|| params.cut_for(data));
        let mut cuts: Vec<(usize, usize)> = Vec::new();
        match cut {
            Cut::ContentDefined => {
                for (offset, len) in params.chunks(data) {
                    if !eof && offset + max > filled {
                        break;
                    }
                    cuts.push((offset, len));
                }
            }
            Cut::Fixed(size) => {
                let mut offset = 0;
                while offset < filled && (eof || offset + size <= filled) {
                    cuts.push((offset, size.min(filled - offset)));
                    offset += size;
                }
            }
        }
        let ids: Vec<ChunkId> = cuts
            .par_iter()
            .map(|&(offset, len)| {
                let data = &data[offset..offset + len];
                let id = ChunkId::of(data);
                ctx.store.put(BlobKind::Chunk, id.into(), data)?;
                ctx.progress.advance(len as u64);
                Ok(id)
            })
            .collect::<Result<_>>()?;
        chunks.extend(ids);
        let consumed = cuts.last().map_or(0, |&(o, l)| o + l);
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if !eof && cuts.is_empty() {
            // The file grew past its size at stat time: make room for a full chunk.
            buf.resize(WINDOW + max, 0);
        }
    }
    Ok(chunks)
}

/// Absolute path of an entry given as relative bytes.
pub fn path_of(data_dir: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        data_dir.to_path_buf()
    } else {
        data_dir.join(std::ffi::OsStr::from_bytes(rel))
    }
}

impl Snapshot {
    /// True for an empty folder.
    pub fn stats_empty(&self) -> bool {
        self.stats.files == 0 && self.stats.dirs == 0 && self.stats.symlinks == 0
    }
}
