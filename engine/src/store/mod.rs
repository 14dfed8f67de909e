//! The local store: packs of compressed blobs (chunks and trees) plus an index from blob id
//! to its place. One store serves every pod under a POD_HOME, so identical data is kept once.
//! Layout: format-spec/local.md.

mod index;
mod writer;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use std::os::unix::fs::FileExt;

use crate::chunker::ChunkerParams;
use crate::codec::pack::{self, BlobKind, Compression, PackEntry};
use crate::codec::tree::Tree;
use crate::codec::DecodeError;
use crate::error::{Error, Result};
use crate::fsio;
use crate::id::{BlobId, PackId, TreeId};

pub use index::decode as decode_index_file;
pub use writer::{compress, DEFAULT_PACK_TARGET};

/// What the store's `config` file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreConfig {
    pub format: u32,
    pub chunker: ChunkerParams,
    pub zstd_level: i32,
    pub pack_target_size: u64,
}

pub const STORE_FORMAT: u32 = 1;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            format: STORE_FORMAT,
            chunker: ChunkerParams::default(),
            zstd_level: 1,
            pack_target_size: DEFAULT_PACK_TARGET,
        }
    }
}

/// Where a blob is: which pack, and its trailer entry.
#[derive(Debug, Clone, Copy)]
pub struct Location {
    pub pack: PackId,
    pub entry: PackEntry,
}

pub struct Store {
    root: PathBuf,
    pub config: StoreConfig,
    index: RwLock<index::Index>,
    writer: Mutex<writer::PackWriter>,
    /// Open pack files. Reads use pread, not mmap: mapped pages of a 1 GiB restore would
    /// count as this process's memory.
    files: Mutex<HashMap<PackId, Arc<File>>>,
    /// Where to announce each pack this store writes once it is complete (see
    /// `announce_packs`).
    announce: Mutex<Option<Sender<PackId>>>,
    finishing: Mutex<Finishing>,
}

/// Packs finished at once before `put` waits for the disk.
const FINISHING_AT_ONCE: usize = 2;

/// Full packs that `put` closed, being finished (trailer, fsync, rename) each on a thread
/// of its own: a snapshot's workers then wait for the disk only when it falls behind by
/// more than `FINISHING_AT_ONCE` packs. The results come back through `done` and are
/// indexed by the next `put` or by `flush`.
struct Finishing {
    pending: usize,
    send: Sender<Result<writer::FinishedPack>>,
    done: Receiver<Result<writer::FinishedPack>>,
}

impl Store {
    /// Opens the store at `root`, creating it with `StoreConfig::default()` if absent.
    /// Callers hold the POD_HOME lock, so leftovers in `tmp/` belong to a dead process.
    pub fn open(root: &Path) -> Result<Store> {
        for dir in ["packs", "tmp"] {
            fsio::create_dir_all(&root.join(dir))?;
        }
        let config_path = root.join("config");
        let config = match fsio::read_optional(&config_path)? {
            Some(bytes) => {
                let config: StoreConfig = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Corrupt(format!("{}: {e}", config_path.display())))?;
                if config.format != STORE_FORMAT {
                    return Err(Error::Usage(format!(
                        "the store at {} has format {}, this pods reads {STORE_FORMAT}: upgrade pods",
                        root.display(),
                        config.format
                    )));
                }
                config.chunker.validate().map_err(Error::Corrupt)?;
                config
            }
            None => {
                let config = StoreConfig::default();
                let text = serde_json::to_vec_pretty(&config).expect("config serializes");
                fsio::write_atomic(&config_path, &text)?;
                config
            }
        };
        if let Ok(entries) = fs::read_dir(root.join("tmp")) {
            for entry in entries.flatten() {
                let _ = fs::remove_file(entry.path());
            }
        }
        let index = index::load(root)?;
        let writer = writer::PackWriter::new(root, config.zstd_level, config.pack_target_size);
        let (send, done) = std::sync::mpsc::channel();
        Ok(Store {
            root: root.to_path_buf(),
            config,
            index: RwLock::new(index),
            writer: Mutex::new(writer),
            files: Mutex::new(HashMap::new()),
            announce: Mutex::new(None),
            finishing: Mutex::new(Finishing { pending: 0, send, done }),
        })
    }

    /// Sends the id of every pack this store writes from now on to `to`, once the pack is
    /// complete and indexed; `None` stops, dropping the sender. A push mirrors packs into
    /// the embedded remote this way while the snapshot is still writing others.
    pub fn announce_packs(&self, to: Option<Sender<PackId>>) {
        *self.announce.lock().expect("announce lock") = to;
    }

    /// Indexes a pack this store has just written, and announces it.
    fn written(&self, pack: PackId, entries: &[PackEntry]) {
        self.add_to_index(pack, entries);
        if let Some(to) = self.announce.lock().expect("announce lock").as_ref() {
            // A listener that went away no longer needs to hear of packs.
            let _ = to.send(pack);
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn pack_path(&self, pack: &PackId) -> PathBuf {
        pack_path(&self.root, pack)
    }

    pub fn location(&self, id: &BlobId) -> Option<Location> {
        self.index.read().expect("index lock").get(id)
    }

    /// True if the blob is stored or waiting in the open pack.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.location(id).is_some() || self.writer.lock().expect("writer lock").has(id)
    }

    /// Stores `raw` under `id` unless it is already stored. Safe to call from many threads;
    /// compression runs on the calling thread, outside any lock.
    pub fn put(&self, kind: BlobKind, id: BlobId, raw: &[u8]) -> Result<()> {
        if self.contains(&id) {
            return Ok(());
        }
        if raw.len() > crate::codec::MAX_BLOB_LEN as usize {
            return Err(Error::DataDir(format!(
                "a directory listing of {} MiB exceeds the {} MiB limit of this format: split the directory",
                raw.len() >> 20,
                crate::codec::MAX_BLOB_LEN >> 20
            )));
        }
        let (compression, stored) = writer::compress(raw, self.config.zstd_level);
        let bytes: &[u8] = stored.as_deref().unwrap_or(raw);
        let closed = self.writer.lock().expect("writer lock").append(kind, id, compression, raw.len(), bytes)?;
        // Until a closed pack is indexed, a put of one of its blobs stores it again
        // (harmless).
        if closed.is_empty() {
            // The usual case, once per chunk: index what has finished unless another put
            // is already at it, and never wait.
            return match self.finishing.try_lock() {
                Ok(mut finishing) => self.index_finished(&mut finishing, usize::MAX),
                Err(_) => Ok(()),
            };
        }
        let mut finishing = self.finishing.lock().expect("finishing lock");
        for pack in closed {
            finishing.pending += 1;
            let send = finishing.send.clone();
            std::thread::spawn(move || {
                // Never leave `flush` waiting for a result that cannot come.
                let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pack.finish()))
                    .unwrap_or_else(|_| Err(Error::Corrupt("finishing a pack failed unexpectedly".into())));
                send.send(finished)
            });
        }
        self.index_finished(&mut finishing, FINISHING_AT_ONCE)
    }

    /// Indexes and announces the packs whose finishing is done, first waiting until at most
    /// `keep` are still being finished. A pack that could not be finished fails the
    /// operation here.
    fn index_finished(&self, finishing: &mut Finishing, keep: usize) -> Result<()> {
        while finishing.pending > 0 {
            let result = if finishing.pending > keep {
                finishing.done.recv().expect("a finishing thread always sends")
            } else {
                match finishing.done.try_recv() {
                    Ok(result) => result,
                    Err(_) => break,
                }
            };
            finishing.pending -= 1;
            let (pack, entries) = result?;
            self.written(pack, &entries);
        }
        Ok(())
    }

    /// Stores a tree and returns its id.
    pub fn put_tree(&self, tree: &Tree) -> Result<TreeId> {
        let bytes = tree.encode();
        let id = TreeId::of(&bytes);
        self.put(BlobKind::Tree, id.into(), &bytes)?;
        Ok(id)
    }

    /// Closes the open pack and persists the index. After this every blob put so far is
    /// durable and readable.
    pub fn flush(&self) -> Result<()> {
        let finished = self.writer.lock().expect("writer lock").finish()?;
        if let Some((pack, entries)) = finished {
            self.written(pack, &entries);
        }
        self.index_finished(&mut self.finishing.lock().expect("finishing lock"), 0)?;
        let mut index = self.index.write().expect("index lock");
        if index.dirty {
            index::save(&self.root, &index)?;
            index.dirty = false;
            crate::fault::point("index-saved");
        }
        Ok(())
    }

    fn add_to_index(&self, pack: PackId, entries: &[PackEntry]) {
        self.index.write().expect("index lock").add(pack, entries);
    }

    fn file(&self, pack: &PackId) -> Result<Arc<File>> {
        let mut files = self.files.lock().expect("files lock");
        if let Some(file) = files.get(pack) {
            return Ok(file.clone());
        }
        let path = self.pack_path(pack);
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::Corrupt(format!("pack {} is missing from {}", pack.short(), path.display()))
            }
            _ => Error::io("opening pack", &path)(e),
        })?;
        let file = Arc::new(file);
        files.insert(*pack, file.clone());
        Ok(file)
    }

    /// Reads a blob into `out` (replacing its content) and checks it hashes to its id.
    pub fn read_into(&self, id: &BlobId, out: &mut Vec<u8>) -> Result<()> {
        let location = self
            .location(id)
            .ok_or_else(|| Error::Corrupt(format!("blob {} is not in any pack", hex::encode(&id.0[..4]))))?;
        let file = self.file(&location.pack)?;
        let entry = location.entry;
        thread_local! {
            static STORED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        STORED.with(|cell| {
            let mut stored = cell.borrow_mut();
            stored.resize(entry.stored_len as usize, 0);
            file.read_exact_at(&mut stored, entry.offset).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    Error::Corrupt(format!("pack {} is shorter than its index says", location.pack.short()))
                }
                _ => Error::io("reading pack", self.pack_path(&location.pack))(e),
            })?;
            self.decode_blob(id, &location, &stored, out)
        })
    }

    fn decode_blob(&self, id: &BlobId, location: &Location, stored: &[u8], out: &mut Vec<u8>) -> Result<()> {
        unpack_blob(id, &location.entry, stored, out).map_err(|e| {
            Error::Corrupt(format!("blob {} in pack {}: {}", hex::encode(&id.0[..4]), location.pack.short(), e.why))
        })
    }

    pub fn read_tree(&self, id: &TreeId) -> Result<Tree> {
        let mut buf = Vec::new();
        self.read_into(&(*id).into(), &mut buf)?;
        Ok(Tree::decode(&buf)?)
    }

    /// The packs holding `ids`. Unknown ids are an error: a version must be complete.
    pub fn packs_of<'a>(&self, ids: impl IntoIterator<Item = &'a BlobId>) -> Result<HashSet<PackId>> {
        let index = self.index.read().expect("index lock");
        let mut packs = HashSet::new();
        for id in ids {
            let location = index
                .get(id)
                .ok_or_else(|| Error::Corrupt(format!("blob {} is not in any pack", hex::encode(&id.0[..4]))))?;
            packs.insert(location.pack);
        }
        Ok(packs)
    }

    /// Like [`Store::packs_of`], but a blob held by several packs counts under one in
    /// `preferred` when it can: a push then never resends data the remote already holds in
    /// another pack (after `gc --remote` repacked it, the old pack may still be here).
    pub fn packs_preferring<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a BlobId>,
        preferred: &HashSet<PackId>,
    ) -> Result<HashSet<PackId>> {
        let index = self.index.read().expect("index lock");
        let mut packs = HashSet::new();
        for id in ids {
            let location = index
                .get(id)
                .ok_or_else(|| Error::Corrupt(format!("blob {} is not in any pack", hex::encode(&id.0[..4]))))?;
            let pack = if preferred.contains(&location.pack) {
                location.pack
            } else {
                let others = index.also.get(id).map_or(&[][..], Vec::as_slice);
                others.iter().map(|l| l.pack).find(|p| preferred.contains(p)).unwrap_or(location.pack)
            };
            packs.insert(pack);
        }
        Ok(packs)
    }

    /// The entries of one pack, read from its trailer.
    pub fn pack_entries(&self, pack: &PackId) -> Result<Vec<PackEntry>> {
        index::read_pack_index(&self.pack_path(pack))
    }

    /// Writes the given blobs of `pack` (stored bytes copied, not recompressed) into new
    /// packs, whatever else holds them, and returns the packs finished. The new packs are
    /// durable and indexed when this returns.
    pub fn repack(&self, sources: &[(PackId, Vec<PackEntry>)]) -> Result<Vec<PackId>> {
        let mut finished = Vec::new();
        let mut writer = self.writer.lock().expect("writer lock");
        for (pack, entries) in sources {
            finished.extend(self.copy_blobs(&mut writer, pack, entries)?);
        }
        finished.extend(writer.finish()?.map(|(new, entries)| {
            self.add_to_index(new, &entries);
            new
        }));
        drop(writer);
        self.flush()?;
        Ok(finished)
    }

    fn copy_blobs(&self, writer: &mut writer::PackWriter, pack: &PackId, entries: &[PackEntry]) -> Result<Vec<PackId>> {
        let path = self.pack_path(pack);
        let file = File::open(&path).map_err(Error::io("opening pack", &path))?;
        let mut finished = Vec::new();
        let mut stored = Vec::new();
        for entry in entries {
            stored.resize(entry.stored_len as usize, 0);
            file.read_exact_at(&mut stored, entry.offset).map_err(Error::io("reading pack", &path))?;
            for closed in writer.append(entry.kind, entry.id, entry.compression, entry.raw_len as usize, &stored)? {
                let (new, entries) = closed.finish()?;
                self.add_to_index(new, &entries);
                finished.push(new);
            }
        }
        Ok(finished)
    }

    pub fn has_pack(&self, pack: &PackId) -> bool {
        self.pack_path(pack).exists()
    }

    /// Adds a pack received from elsewhere. Its bytes must hash to `claimed` and its index
    /// must be well formed; each blob is checked against its id when it is read.
    pub fn import_pack(&self, claimed: &PackId, bytes: &[u8]) -> Result<()> {
        let entries = check_pack(claimed, bytes).map_err(|why| {
            Error::Remote(format!(
                "pack {} from the remote is corrupt or tampered: {why}; nothing was written",
                claimed.short()
            ))
        })?;
        if !self.has_pack(claimed) {
            fsio::write_atomic(&self.pack_path(claimed), bytes)?;
        }
        self.add_to_index(*claimed, &entries);
        Ok(())
    }

    /// The ids of every pack file in the store.
    pub fn pack_ids(&self) -> Result<Vec<PackId>> {
        let dir = self.root.join("packs");
        let mut packs = Vec::new();
        for entry in fs::read_dir(&dir).map_err(Error::io("listing", &dir))? {
            let name = entry.map_err(Error::io("listing", &dir))?.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".pack")).and_then(PackId::from_hex) {
                packs.push(id);
            }
        }
        packs.sort_unstable();
        Ok(packs)
    }

    /// Packs whose index could not be read when the store was opened, with why.
    pub fn broken_packs(&self) -> Vec<(PackId, String)> {
        self.index.read().expect("index lock").broken.clone()
    }

    /// Where the index (the file `index`, loaded at open) says each blob is.
    pub fn index_entries(&self) -> Vec<(BlobId, Location)> {
        self.index.read().expect("index lock").iter().collect()
    }

    /// Number of blobs indexed.
    pub fn blob_count(&self) -> usize {
        self.index.read().expect("index lock").len()
    }
}

pub(crate) fn pack_path(root: &Path, pack: &PackId) -> PathBuf {
    root.join("packs").join(format!("{}.pack", pack.to_hex()))
}

/// Decompresses one zstd frame that must expand to exactly `raw_len` bytes. The capacity
/// bound stops a frame that expands further (a decompression bomb) without allocating more.
/// Each thread keeps one decompression context: creating one per blob was 43 % of a pull's
/// CPU time.
fn decompress_into(stored: &[u8], raw_len: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let zstd_error = |e: std::io::Error| DecodeError::new("zstd frame", e.to_string());
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = Some(zstd::bulk::Decompressor::new().map_err(zstd_error)?);
        }
        let decompressor = cell.as_mut().expect("just set");
        out.reserve(raw_len);
        decompressor.decompress_to_buffer(stored, out).map_err(zstd_error)?;
        Ok(())
    })
}

/// Decompresses a stored blob and checks it against its id. Pure, for fuzzing and checks.
pub fn unpack_blob(id: &BlobId, entry: &PackEntry, stored: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.clear();
    if stored.len() != entry.stored_len as usize {
        return Err(DecodeError::new("blob", "stored length differs from the index"));
    }
    match entry.compression {
        Compression::None => out.extend_from_slice(stored),
        Compression::Zstd => decompress_into(stored, entry.raw_len as usize, out)?,
    }
    if out.len() != entry.raw_len as usize || blake3::hash(out).as_bytes() != &id.0 {
        return Err(DecodeError::new("blob", "content does not match its hash"));
    }
    Ok(())
}

/// Checks a whole pack held in memory: its bytes hash to its name, its index is well
/// formed, and every blob decompresses to exactly its declared size and hashes to its id.
/// Returns the entries.
pub fn check_pack(claimed: &PackId, bytes: &[u8]) -> Result<Vec<PackEntry>, String> {
    use rayon::prelude::*;
    if PackId::of(bytes) != *claimed {
        return Err("its content does not hash to its name".into());
    }
    let entries = pack::decode_pack_index(bytes).map_err(|e| e.to_string())?;
    entries.par_iter().try_for_each_init(Vec::new, |out, entry| {
        let start = entry.offset as usize;
        let stored = &bytes[start..start + entry.stored_len as usize];
        unpack_blob(&entry.id, entry, stored, out)
            .map_err(|e| format!("blob {}: {}", hex::encode(&entry.id.0[..4]), e.why))
    })?;
    Ok(entries)
}

/// What a garbage collection did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct GcStats {
    pub packs_before: usize,
    pub packs_deleted: usize,
    pub packs_repacked: usize,
    pub bytes_freed: u64,
}

impl Store {
    /// Removes every blob not in `live`: packs with no live blob are deleted, packs with at
    /// least `repack_ratio` of dead bytes have their live blobs copied (as stored, no
    /// recompression) into new packs, which are durable before the old ones are deleted.
    /// A crash at any point leaves every live blob in some pack.
    pub fn collect_garbage(&self, live: &HashSet<BlobId>, repack_ratio: f64) -> Result<GcStats> {
        let mut stats = GcStats::default();
        let packs = self.pack_ids()?;
        stats.packs_before = packs.len();
        let mut doomed = Vec::new();
        for pack in packs {
            let path = self.pack_path(&pack);
            let len = fs::metadata(&path).map_err(Error::io("reading", &path))?.len();
            let entries = index::read_pack_index(&path)?;
            let (live_entries, dead): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| live.contains(&e.id));
            let dead_bytes: u64 = dead.iter().map(|e| u64::from(e.stored_len)).sum();
            if live_entries.is_empty() {
                doomed.push((pack, len));
            } else if dead_bytes as f64 >= repack_ratio * len as f64 {
                let mut writer = self.writer.lock().expect("writer lock");
                self.copy_blobs(&mut writer, &pack, &live_entries)?;
                drop(writer);
                stats.packs_repacked += 1;
                doomed.push((pack, len));
            }
        }
        // New packs, and an index of the packs that stay, are durable before anything is
        // deleted: a crash then leaves a store whose index matches its packs.
        self.flush()?;
        let doomed_ids: HashSet<PackId> = doomed.iter().map(|(p, _)| *p).collect();
        let mut kept = index::Index::default();
        for pack in self.pack_ids()?.into_iter().filter(|p| !doomed_ids.contains(p)) {
            kept.add(pack, &index::read_pack_index(&self.pack_path(&pack))?);
        }
        index::save(&self.root, &kept)?;
        crate::fault::point("gc-index-saved");
        for (pack, len) in &doomed {
            let path = self.pack_path(pack);
            fs::remove_file(&path).map_err(Error::io("removing pack", &path))?;
            stats.bytes_freed += len;
            crate::fault::point("gc-pack-deleted");
        }
        stats.packs_deleted = doomed.len();
        kept.dirty = false;
        *self.index.write().expect("index lock") = kept;
        self.files.lock().expect("files lock").clear();
        Ok(stats)
    }
}
