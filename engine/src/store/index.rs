//! The persisted index: every pack's trailer, gathered into one file so opening the store
//! reads one file instead of every pack. It is a cache: packs are the truth, and any pack
//! the file does not cover is read directly (format-spec/local.md).

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::Location;
use crate::codec::pack::{self, BlobKind, Compression, PackEntry, ENTRY_LEN, FOOTER_LEN};
use crate::codec::DecodeError;
use crate::error::{Error, Result};
use crate::fsio;
use crate::id::{BlobId, PackId};

const MAGIC: &[u8; 8] = b"PODSINDX";
const VERSION: u32 = 1;

/// Blob → location, plus every pack known (a pack whose blobs all live in other packs too
/// still counts, so it is not re-read at every start).
#[derive(Default)]
pub struct Index {
    /// FxHash: the keys are hashes already, and SipHash showed at the top of a no-change push.
    blobs: rustc_hash::FxHashMap<BlobId, Slot>,
    /// Packs by the number a [`Slot`] names them with.
    numbered: Vec<PackId>,
    numbers: rustc_hash::FxHashMap<PackId, u32>,
    pub packs: BTreeSet<PackId>,
    /// Further packs holding a blob that `blobs` maps elsewhere. Rare (a repack, or two
    /// pushers storing the same chunk), and what lets a push pick packs the remote has.
    pub also: rustc_hash::FxHashMap<BlobId, Vec<Location>>,
    /// Packs on disk whose trailer could not be read.
    pub broken: Vec<(PackId, String)>,
    /// Packs were added since the index file was last written.
    pub dirty: bool,
}

/// A blob's location as the map holds it: the pack by number and the entry without its id
/// (the key). 56 bytes a blob with the key instead of 120: the chunk index is the one thing
/// a push holds in proportion to the store, and its growth was half a first push's heap.
#[derive(Clone, Copy)]
struct Slot {
    offset: u64,
    stored_len: u32,
    raw_len: u32,
    pack: u32,
    kind: BlobKind,
    compression: Compression,
}

impl Index {
    /// Adds a pack's entries; a blob already known keeps its first location, so which
    /// pack serves a blob does not change from run to run.
    pub fn add(&mut self, pack: PackId, entries: &[PackEntry]) {
        self.dirty |= self.packs.insert(pack);
        let next = u32::try_from(self.numbered.len()).expect("fewer than 2^32 packs");
        let number = *self.numbers.entry(pack).or_insert(next);
        if number == next {
            self.numbered.push(pack);
        }
        self.blobs.reserve(entries.len());
        for entry in entries {
            match self.blobs.entry(entry.id) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(Slot {
                        offset: entry.offset,
                        stored_len: entry.stored_len,
                        raw_len: entry.raw_len,
                        pack: number,
                        kind: entry.kind,
                        compression: entry.compression,
                    });
                }
                std::collections::hash_map::Entry::Occupied(first) if first.get().pack != number => {
                    let others = self.also.entry(entry.id).or_default();
                    if others.iter().all(|l| l.pack != pack) {
                        others.push(Location { pack, entry: *entry });
                    }
                }
                std::collections::hash_map::Entry::Occupied(_) => {}
            }
        }
    }

    /// Where `id` is (its first location).
    pub fn get(&self, id: &BlobId) -> Option<Location> {
        self.blobs.get(id).map(|slot| self.location(id, slot))
    }

    /// Every blob with its first location.
    pub fn iter(&self) -> impl Iterator<Item = (BlobId, Location)> + '_ {
        self.blobs.iter().map(|(id, slot)| (*id, self.location(id, slot)))
    }

    /// Number of distinct blobs.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    fn location(&self, id: &BlobId, slot: &Slot) -> Location {
        Location {
            pack: self.numbered[slot.pack as usize],
            entry: PackEntry {
                id: *id,
                kind: slot.kind,
                compression: slot.compression,
                stored_len: slot.stored_len,
                raw_len: slot.raw_len,
                offset: slot.offset,
            },
        }
    }
}

pub fn load(root: &Path) -> Result<Index> {
    let on_disk = list_packs(root)?;
    let mut index = Index::default();
    let mut covered = HashSet::new();
    let path = root.join("index");
    if let Some(bytes) = fsio::read_optional(&path)? {
        // A damaged cache is rebuilt from the packs, not fatal. So is one that lists a pack
        // no longer on disk: it records each blob under one pack only, so the other packs
        // holding that blob may be listed without it.
        if let Ok(packs) = decode(&bytes) {
            if packs.iter().all(|(pack, _)| on_disk.contains(pack)) {
                for (pack, entries) in packs {
                    covered.insert(pack);
                    index.add(pack, &entries);
                }
            }
        }
    }
    let mut changed = covered.len() != on_disk.len();
    let mut missing: Vec<&PackId> = on_disk.difference(&covered).collect();
    missing.sort_unstable();
    for pack in missing {
        // A pack whose trailer cannot be read serves nothing; `pods verify` names it.
        match read_pack_index(&super::pack_path(root, pack)) {
            Ok(entries) => {
                index.add(*pack, &entries);
                changed = true;
            }
            Err(e) => index.broken.push((*pack, e.to_string())),
        }
    }
    if changed {
        save(root, &index)?;
    }
    index.dirty = false;
    Ok(index)
}

fn list_packs(root: &Path) -> Result<HashSet<PackId>> {
    let dir = root.join("packs");
    let mut packs = HashSet::new();
    for entry in fs::read_dir(&dir).map_err(Error::io("listing", &dir))? {
        let entry = entry.map_err(Error::io("listing", &dir))?;
        let name = entry.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".pack")) else {
            continue;
        };
        if let Some(id) = PackId::from_hex(hex) {
            packs.insert(id);
        }
    }
    Ok(packs)
}

/// Reads the trailer of one pack file without reading its blobs.
pub fn read_pack_index(path: &Path) -> Result<Vec<PackEntry>> {
    let corrupt = |e: DecodeError| Error::Corrupt(format!("{}: {e}", path.display()));
    let mut file = File::open(path).map_err(Error::io("opening pack", path))?;
    let len = file.metadata().map_err(Error::io("reading pack", path))?.len();
    let mut header = [0u8; pack::HEADER_LEN];
    file.read_exact(&mut header).map_err(|_| corrupt(DecodeError::new("pack", "truncated")))?;
    pack::decode_header(&header).map_err(corrupt)?;
    let mut footer = [0u8; FOOTER_LEN];
    file.seek(SeekFrom::End(-(FOOTER_LEN as i64))).map_err(Error::io("reading pack", path))?;
    file.read_exact(&mut footer).map_err(Error::io("reading pack", path))?;
    let footer = pack::decode_footer(&footer, len).map_err(corrupt)?;
    let mut trailer = vec![0u8; footer.count as usize * ENTRY_LEN];
    file.seek(SeekFrom::Start(footer.trailer_offset)).map_err(Error::io("reading pack", path))?;
    file.read_exact(&mut trailer).map_err(Error::io("reading pack", path))?;
    pack::decode_trailer(&trailer, footer).map_err(corrupt)
}

pub fn save(root: &Path, index: &Index) -> Result<()> {
    let mut by_pack: std::collections::BTreeMap<PackId, Vec<PackEntry>> =
        index.packs.iter().map(|p| (*p, Vec::new())).collect();
    for (_, location) in index.iter() {
        by_pack.entry(location.pack).or_default().push(location.entry);
    }
    for location in index.also.values().flatten() {
        by_pack.entry(location.pack).or_default().push(location.entry);
    }
    let mut out = Vec::with_capacity(16 + index.blobs.len() * ENTRY_LEN + by_pack.len() * 36);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(by_pack.len() as u32).to_le_bytes());
    for (pack, mut entries) in by_pack {
        entries.sort_by_key(|e| e.offset);
        out.extend_from_slice(&pack.0);
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for entry in &entries {
            pack::encode_entry(entry, &mut out);
        }
    }
    fsio::write_atomic(&root.join("index"), &out)
}

/// Decodes the index file (format-spec/local.md). Pure, for fuzzing.
pub fn decode(bytes: &[u8]) -> Result<Vec<(PackId, Vec<PackEntry>)>, DecodeError> {
    let what = "index file";
    let short = || DecodeError::new(what, "truncated");
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(DecodeError::new(what, "bad magic"));
    }
    if bytes[8..12] != VERSION.to_le_bytes() {
        return Err(DecodeError::new(what, "unknown version"));
    }
    let count = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let mut rest = &bytes[16..];
    let mut packs = Vec::new();
    for _ in 0..count {
        if rest.len() < 36 {
            return Err(short());
        }
        let pack = PackId(rest[..32].try_into().expect("32 bytes"));
        let n = u32::from_le_bytes(rest[32..36].try_into().expect("4 bytes")) as usize;
        rest = &rest[36..];
        let len = n.checked_mul(ENTRY_LEN).filter(|l| *l <= rest.len()).ok_or_else(short)?;
        let entries = rest[..len].chunks_exact(ENTRY_LEN).map(pack::decode_entry).collect::<Result<_, _>>()?;
        rest = &rest[len..];
        packs.push((pack, entries));
    }
    if !rest.is_empty() {
        return Err(DecodeError::new(what, "trailing bytes"));
    }
    Ok(packs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u8, offset: u64) -> PackEntry {
        PackEntry {
            id: BlobId([id; 32]),
            kind: BlobKind::Chunk,
            compression: Compression::Zstd,
            stored_len: 10 + id as u32,
            raw_len: 20 + id as u32,
            offset,
        }
    }

    #[test]
    fn a_blob_keeps_its_first_pack_and_the_index_file_keeps_every_copy() {
        let (first, second) = (PackId([1; 32]), PackId([2; 32]));
        let mut index = Index::default();
        index.add(first, &[entry(7, 16), entry(8, 40)]);
        index.add(second, &[entry(8, 16), entry(9, 50)]);
        index.add(first, &[entry(7, 16)]);

        assert_eq!(index.len(), 3);
        let eight = index.get(&BlobId([8; 32])).expect("8 is indexed");
        assert_eq!((eight.pack, eight.entry), (first, entry(8, 40)), "the first pack serves it");
        assert_eq!(index.get(&BlobId([9; 32])).map(|l| (l.pack, l.entry)), Some((second, entry(9, 50))));
        assert!(index.get(&BlobId([3; 32])).is_none());
        let others: Vec<_> = index.also[&BlobId([8; 32])].iter().map(|l| (l.pack, l.entry)).collect();
        assert_eq!(others, vec![(second, entry(8, 16))]);
        assert!(!index.also.contains_key(&BlobId([7; 32])), "re-adding a pack is no second copy");

        let dir = tempfile::tempdir().expect("tempdir");
        save(dir.path(), &index).expect("save");
        let saved = decode(&fs::read(dir.path().join("index")).expect("index file")).expect("decodes");
        assert_eq!(saved, vec![(first, vec![entry(7, 16), entry(8, 40)]), (second, vec![entry(8, 16), entry(9, 50)])]);
    }
}
