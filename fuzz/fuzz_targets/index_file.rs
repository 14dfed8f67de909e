//! `store::decode_index_file`, the store's persisted index. Never panics; an accepted file
//! re-encodes (layout of format-spec/local.md) to exactly the input bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pods_engine::codec::pack;
use pods_engine::store::decode_index_file;

fuzz_target!(|data: &[u8]| {
    let Ok(packs) = decode_index_file(data) else { return };
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(b"PODSINDX");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for (pack_id, entries) in &packs {
        out.extend_from_slice(&pack_id.0);
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for entry in entries {
            pack::encode_entry(entry, &mut out);
        }
    }
    assert_eq!(out, data, "index file does not re-encode to the same bytes");
});
