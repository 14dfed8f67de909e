//! The persisted index: every pack's trailer, gathered into one file so opening the store
//! reads one file instead of every pack. It is a cache: packs are the truth, and any pack
//! the file does not cover is read directly (format-spec/local.md).

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::Location;
use crate::codec::pack::{self, PackEntry, ENTRY_LEN, FOOTER_LEN};
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
    pub blobs: rustc_hash::FxHashMap<BlobId, Location>,
    pub packs: BTreeSet<PackId>,
    /// Further packs holding a blob that `blobs` maps elsewhere. Rare (a repack, or two
    /// pushers storing the same chunk), and what lets a push pick packs the remote has.
    pub also: rustc_hash::FxHashMap<BlobId, Vec<Location>>,
    /// Packs on disk whose trailer could not be read.
    pub broken: Vec<(PackId, String)>,
    /// Packs were added since the index file was last written.
    pub dirty: bool,
}

impl Index {
    /// Adds a pack's entries; a blob already known keeps its first location, so which
    /// pack serves a blob does not change from run to run.
    pub fn add(&mut self, pack: PackId, entries: &[PackEntry]) {
        self.dirty |= self.packs.insert(pack);
        for entry in entries {
            match self.blobs.entry(entry.id) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(Location { pack, entry: *entry });
                }
                std::collections::hash_map::Entry::Occupied(first) if first.get().pack != pack => {
                    let others = self.also.entry(entry.id).or_default();
                    if others.iter().all(|l| l.pack != pack) {
                        others.push(Location { pack, entry: *entry });
                    }
                }
                std::collections::hash_map::Entry::Occupied(_) => {}
            }
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
    for location in index.blobs.values().chain(index.also.values().flatten()) {
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
