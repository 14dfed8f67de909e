//! Pack files: a header, the stored blobs back to back, then the pack's own index (the
//! trailer) and a fixed-size footer. Layout and rules: format-spec/pack.md.

use super::{DecodeError, MAX_BLOB_LEN};
use crate::id::{BlobId, ID_LEN};

pub const MAGIC: &[u8; 8] = b"PODSPACK";
pub const FOOTER_MAGIC: &[u8; 8] = b"PODSTAIL";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 16;
pub const FOOTER_LEN: usize = 24;
pub const ENTRY_LEN: usize = 52;
/// Git hosts refuse blobs over 100 MiB; a pack is one blob on the remote.
pub const MAX_PACK_LEN: u64 = 100 << 20;

/// What a blob is. The byte values are part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    Chunk = 1,
    Tree = 2,
}

/// How a blob's bytes are stored. The byte values are part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None = 0,
    Zstd = 1,
}

/// One trailer entry: where a blob sits in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    pub id: BlobId,
    pub kind: BlobKind,
    pub compression: Compression,
    /// Bytes in the pack.
    pub stored_len: u32,
    /// Bytes after decompression.
    pub raw_len: u32,
    /// From the start of the pack file.
    pub offset: u64,
}

pub fn encode_header() -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out
}

pub fn decode_header(bytes: &[u8]) -> Result<(), DecodeError> {
    let what = "pack header";
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::new(what, "shorter than 16 bytes"));
    }
    if &bytes[..8] != MAGIC {
        return Err(DecodeError::new(what, "not a pods pack (bad magic)"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(DecodeError::new(what, format!("pack format {version}, this pods reads {FORMAT_VERSION}")));
    }
    if bytes[12..16] != [0, 0, 0, 0] {
        return Err(DecodeError::new(what, "reserved bytes are not zero"));
    }
    Ok(())
}

pub fn encode_entry(entry: &PackEntry, out: &mut Vec<u8>) {
    out.extend_from_slice(&entry.id.0);
    out.push(entry.kind as u8);
    out.push(entry.compression as u8);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&entry.stored_len.to_le_bytes());
    out.extend_from_slice(&entry.raw_len.to_le_bytes());
    out.extend_from_slice(&entry.offset.to_le_bytes());
}

/// Decodes one 52-byte entry and checks what can be checked without the pack.
pub fn decode_entry(bytes: &[u8]) -> Result<PackEntry, DecodeError> {
    let what = "pack index entry";
    if bytes.len() != ENTRY_LEN {
        return Err(DecodeError::new(what, format!("{} bytes, expected {ENTRY_LEN}", bytes.len())));
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let kind = match bytes[32] {
        1 => BlobKind::Chunk,
        2 => BlobKind::Tree,
        k => return Err(DecodeError::new(what, format!("unknown blob kind {k}"))),
    };
    let compression = match bytes[33] {
        0 => Compression::None,
        1 => Compression::Zstd,
        c => return Err(DecodeError::new(what, format!("unknown compression {c}"))),
    };
    if bytes[34..36] != [0, 0] {
        return Err(DecodeError::new(what, "reserved bytes are not zero"));
    }
    let entry = PackEntry {
        id: BlobId(bytes[..ID_LEN].try_into().expect("32 bytes")),
        kind,
        compression,
        stored_len: u32_at(36),
        raw_len: u32_at(40),
        offset: u64::from_le_bytes(bytes[44..52].try_into().expect("8 bytes")),
    };
    if entry.raw_len > MAX_BLOB_LEN {
        return Err(DecodeError::new(what, format!("blob of {} bytes exceeds the limit", entry.raw_len)));
    }
    if entry.compression == Compression::None && entry.stored_len != entry.raw_len {
        return Err(DecodeError::new(what, "uncompressed blob with stored length != raw length"));
    }
    Ok(entry)
}

/// Encodes the trailer and footer that close a pack whose blobs end at `trailer_offset`.
pub fn encode_trailer(entries: &[PackEntry], trailer_offset: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_LEN + FOOTER_LEN);
    for entry in entries {
        encode_entry(entry, &mut out);
    }
    out.extend_from_slice(&trailer_offset.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(FOOTER_MAGIC);
    out
}

/// The footer: where the trailer starts and how many entries it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub trailer_offset: u64,
    pub count: u32,
}

/// Decodes the last [`FOOTER_LEN`] bytes of a pack of `pack_len` bytes.
pub fn decode_footer(bytes: &[u8], pack_len: u64) -> Result<Footer, DecodeError> {
    let what = "pack footer";
    if bytes.len() != FOOTER_LEN || pack_len < (HEADER_LEN + FOOTER_LEN) as u64 {
        return Err(DecodeError::new(what, "pack too short"));
    }
    if &bytes[16..24] != FOOTER_MAGIC {
        return Err(DecodeError::new(what, "bad magic (truncated or not a pods pack)"));
    }
    if bytes[12..16] != [0, 0, 0, 0] {
        return Err(DecodeError::new(what, "reserved bytes are not zero"));
    }
    let footer = Footer {
        trailer_offset: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
        count: u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")),
    };
    let trailer_len = footer.count as u64 * ENTRY_LEN as u64;
    if footer.trailer_offset < HEADER_LEN as u64
        || footer.trailer_offset.checked_add(trailer_len).and_then(|end| end.checked_add(FOOTER_LEN as u64))
            != Some(pack_len)
    {
        return Err(DecodeError::new(what, "trailer offset and entry count do not match the pack length"));
    }
    Ok(footer)
}

/// Decodes a whole trailer (the entries) and checks every entry lies inside the blob area,
/// in order, without overlap, and that no id repeats.
pub fn decode_trailer(bytes: &[u8], footer: Footer) -> Result<Vec<PackEntry>, DecodeError> {
    let what = "pack index";
    if bytes.len() as u64 != footer.count as u64 * ENTRY_LEN as u64 {
        return Err(DecodeError::new(what, "length does not match the entry count"));
    }
    let mut entries = Vec::with_capacity(footer.count as usize);
    let mut next_free = HEADER_LEN as u64;
    let mut seen = std::collections::HashSet::with_capacity(footer.count as usize);
    for raw in bytes.chunks_exact(ENTRY_LEN) {
        let entry = decode_entry(raw)?;
        let end = entry.offset.checked_add(entry.stored_len as u64);
        if entry.offset < next_free || end.is_none_or(|end| end > footer.trailer_offset) {
            return Err(DecodeError::new(what, "blob outside the blob area or overlapping another"));
        }
        if !seen.insert(entry.id) {
            return Err(DecodeError::new(what, "the same blob id appears twice"));
        }
        next_free = end.expect("checked above");
        entries.push(entry);
    }
    Ok(entries)
}

/// Decodes the index of a complete pack held in memory.
pub fn decode_pack_index(pack: &[u8]) -> Result<Vec<PackEntry>, DecodeError> {
    decode_header(pack)?;
    let len = pack.len() as u64;
    if pack.len() < HEADER_LEN + FOOTER_LEN {
        return Err(DecodeError::new("pack", "shorter than header and footer"));
    }
    let footer = decode_footer(&pack[pack.len() - FOOTER_LEN..], len)?;
    let start = footer.trailer_offset as usize;
    decode_trailer(&pack[start..pack.len() - FOOTER_LEN], footer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut pack = encode_header().to_vec();
        let blob = b"hello";
        let entry = PackEntry {
            id: BlobId(*blake3::hash(blob).as_bytes()),
            kind: BlobKind::Chunk,
            compression: Compression::None,
            stored_len: 5,
            raw_len: 5,
            offset: pack.len() as u64,
        };
        pack.extend_from_slice(blob);
        let trailer_offset = pack.len() as u64;
        pack.extend_from_slice(&encode_trailer(&[entry], trailer_offset));
        pack
    }

    #[test]
    fn round_trip() {
        let pack = sample();
        let entries = decode_pack_index(&pack).expect("valid pack");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].offset, 16);
        assert_eq!(&pack[16..21], b"hello");
    }

    /// The hex vector of format-spec/pack.md: a pack holding the one chunk "hello".
    #[test]
    fn spec_vector() {
        let expected = concat!(
            "504f44535041434b",
            "01000000",
            "00000000",   // header
            "68656c6c6f", // the blob
            "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f",
            "01",
            "00",
            "0000",
            "05000000",
            "05000000",
            "1000000000000000", // entry
            "1500000000000000",
            "01000000",
            "00000000",
            "504f44535441494c" // footer
        );
        assert_eq!(hex::encode(sample()), expected);
    }

    #[test]
    fn rejects_truncation_and_garbage() {
        let pack = sample();
        for cut in 0..pack.len() {
            assert!(decode_pack_index(&pack[..cut]).is_err(), "accepted a pack cut at {cut}");
        }
        let mut bad = pack.clone();
        let n = bad.len();
        bad[n - 16] = 9; // entry count 9
        assert!(decode_pack_index(&bad).is_err());
    }
}
