//! Reading stored blobs without I/O: `store::unpack_blob` (zstd decompression-bomb and
//! corrupt-frame checks) and `store::check_pack` (a whole pack from a remote).
//!
//! Input, read two ways:
//! - `[compression: u8][raw_len: u32 LE][stored bytes...]` for `unpack_blob`. The blob's id
//!   is unknown to the fuzzer, so a first call uses a wrong id and, if the frame expanded to
//!   exactly `raw_len` bytes, a second call uses the real hash and must succeed. Output
//!   never outgrows `raw_len` (the bomb bound), and Ok means exactly `raw_len` bytes that
//!   hash to the id.
//! - the whole input as a pack for `check_pack` (named by its own hash): if accepted, its
//!   entries are `decode_pack_index`'s and every blob unpacks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pods_engine::codec::pack::{self, BlobKind, Compression, PackEntry};
use pods_engine::codec::{DecodeError, MAX_BLOB_LEN};
use pods_engine::id::{BlobId, PackId};
use pods_engine::store::{check_pack, unpack_blob};

fn unpack(data: &[u8]) {
    let Some((header, stored)) = data.split_first_chunk::<5>() else { return };
    let compression = if header[0] & 1 == 1 { Compression::Zstd } else { Compression::None };
    // decode_entry refuses more than MAX_BLOB_LEN; stay within what an index can hold.
    let raw_len = u32::from_le_bytes(header[1..5].try_into().expect("4 bytes")) % (MAX_BLOB_LEN + 1);
    let raw_len = if compression == Compression::None { stored.len() as u32 } else { raw_len };
    let entry = PackEntry {
        id: BlobId([0; 32]),
        kind: BlobKind::Chunk,
        compression,
        stored_len: stored.len() as u32,
        raw_len,
        offset: 16,
    };

    let mut out = Vec::new();
    let first = unpack_blob(&entry.id, &entry, stored, &mut out);
    assert!(
        out.capacity() <= (raw_len as usize).max(8),
        "output grew to {} bytes of capacity for a blob of {raw_len} bytes (decompression bomb)",
        out.capacity()
    );
    if first.is_ok() {
        // Only for the all-zero id: blake3 of the output would have to be zero.
        assert_eq!(blake3_of(&out), entry.id, "accepted content that does not hash to its id");
        return;
    }
    // A frame may fill the buffer's spare capacity past raw_len (capacity rounds up); such a
    // blob is refused. Refused for the hash alone (what = "blob", exactly raw_len bytes)
    // means the frame itself was fine.
    let hash_only = |r: &Result<(), DecodeError>, out: &[u8]| {
        matches!(r, Err(e) if e.what == "blob") && out.len() == raw_len as usize
    };

    // A reused buffer with room to spare (as check_pack and Store::read_into pass) gives the
    // same verdict and bytes, and grows no further than raw_len needs.
    let mut roomy = roomy_buffer();
    let second = unpack_blob(&entry.id, &entry, stored, &mut roomy);
    assert!(second.is_err(), "accepted with a roomy buffer, refused with an exact one: {first:?}");
    assert!(
        roomy.capacity() <= (64usize << 10).max(raw_len as usize * 2),
        "a reused buffer grew to {} bytes for a blob of {raw_len} bytes",
        roomy.capacity()
    );
    assert_eq!(
        hash_only(&first, &out),
        hash_only(&second, &roomy),
        "the frame's verdict depends on the buffer: {first:?} vs {second:?}"
    );
    if !hash_only(&first, &out) {
        return;
    }
    assert_eq!(out, roomy, "the same frame decompressed differently");

    // With its real id the blob is accepted, into a fresh buffer or a reused one.
    let id = blake3_of(&out);
    for mut buffer in [Vec::new(), roomy_buffer()] {
        unpack_blob(&id, &entry, stored, &mut buffer)
            .unwrap_or_else(|e| panic!("blob refused with its own hash as id: {e}"));
        assert_eq!(buffer, out, "the same frame decompressed differently");
    }

    // A stored length that disagrees with the index is refused.
    let wrong = PackEntry { stored_len: entry.stored_len.wrapping_add(1), ..entry };
    assert!(unpack_blob(&id, &wrong, stored, &mut Vec::new()).is_err(), "stored length mismatch accepted");
}

/// A buffer as a previous, larger blob leaves it: 64 KiB of capacity and stale bytes.
fn roomy_buffer() -> Vec<u8> {
    let mut buffer = Vec::with_capacity(64 << 10);
    buffer.extend_from_slice(b"left over from the previous blob");
    buffer
}

fn blake3_of(bytes: &[u8]) -> BlobId {
    BlobId(PackId::of(bytes).0) // every id is the blake3-256 of its bytes
}

fn whole_pack(data: &[u8]) {
    let claimed = PackId::of(data);
    let Ok(entries) = check_pack(&claimed, data) else { return };
    let index = pack::decode_pack_index(data).expect("check_pack accepted a pack whose index does not decode");
    assert_eq!(entries, index, "check_pack and decode_pack_index disagree");
    let mut out = Vec::new();
    for entry in &entries {
        let stored = &data[entry.offset as usize..(entry.offset + entry.stored_len as u64) as usize];
        unpack_blob(&entry.id, entry, stored, &mut out).expect("a blob of an accepted pack does not unpack");
        assert_eq!(out.len(), entry.raw_len as usize);
    }
    let mut other = claimed;
    other.0[0] ^= 1;
    assert!(check_pack(&other, data).is_err(), "a pack was accepted under another name");
}

fuzz_target!(
    init: {
        // check_pack unpacks blobs on rayon's pool: keep it to one thread, the fuzzer shares
        // the machine.
        std::env::set_var("RAYON_NUM_THREADS", "1");
    },
    |data: &[u8]| {
        unpack(data);
        whole_pack(data);
    }
);
