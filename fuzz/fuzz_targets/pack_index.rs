//! `decode_pack_index` on a whole pack held in memory. Never panics; when it accepts, every
//! entry lies in the blob area (after the header, before the trailer), in order, without
//! overlap or repeated ids, and re-encoding the trailer gives back the pack's tail byte for
//! byte.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use pods_engine::codec::pack::{self, ENTRY_LEN, FOOTER_LEN, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = pack::decode_pack_index(data) else { return };
    let len = data.len() as u64;
    let trailer_offset = len - FOOTER_LEN as u64 - (entries.len() * ENTRY_LEN) as u64;
    let mut next_free = HEADER_LEN as u64;
    let mut ids = HashSet::new();
    for entry in &entries {
        let end = entry.offset.checked_add(entry.stored_len as u64).expect("entry end overflows");
        assert!(end <= len, "entry {entry:?} ends past the pack ({len} bytes)");
        assert!(entry.offset >= next_free, "entry {entry:?} overlaps the header or the previous blob");
        assert!(end <= trailer_offset, "entry {entry:?} reaches into the trailer at {trailer_offset}");
        assert!(ids.insert(entry.id), "id of {entry:?} repeats");
        next_free = end;
    }
    let tail = pack::encode_trailer(&entries, trailer_offset);
    assert_eq!(&data[trailer_offset as usize..], &tail[..], "trailer does not re-encode to the same bytes");
});
