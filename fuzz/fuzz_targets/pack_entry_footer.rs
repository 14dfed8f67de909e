//! `decode_entry` on every 52-byte window of the input and `decode_footer` on its last 24
//! bytes, with a pack length taken from the input's first 8 bytes (or the input's length).
//! Never panics; whatever decodes re-encodes to the same bytes and obeys the checked rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pods_engine::codec::pack::{self, Compression, ENTRY_LEN, FOOTER_LEN, FOOTER_MAGIC, HEADER_LEN};
use pods_engine::codec::MAX_BLOB_LEN;

fuzz_target!(|data: &[u8]| {
    // Wrong lengths must be refused, not panic.
    let _ = pack::decode_entry(&data[..data.len().min(ENTRY_LEN + 1)]);

    for window in data.windows(ENTRY_LEN) {
        let Ok(entry) = pack::decode_entry(window) else { continue };
        assert!(entry.raw_len <= MAX_BLOB_LEN, "{entry:?} over the blob limit");
        if entry.compression == Compression::None {
            assert_eq!(entry.stored_len, entry.raw_len, "uncompressed {entry:?}");
        }
        let mut out = Vec::new();
        pack::encode_entry(&entry, &mut out);
        assert_eq!(out, window, "entry does not re-encode to the same bytes");
    }

    if data.len() >= FOOTER_LEN {
        let footer_bytes = &data[data.len() - FOOTER_LEN..];
        let pack_lens =
            [data.len() as u64, data.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))];
        for pack_len in pack_lens {
            let Ok(footer) = pack::decode_footer(footer_bytes, pack_len) else { continue };
            assert!(footer.trailer_offset >= HEADER_LEN as u64);
            assert_eq!(
                footer.trailer_offset as u128 + footer.count as u128 * ENTRY_LEN as u128 + FOOTER_LEN as u128,
                pack_len as u128,
                "{footer:?} does not add up to the pack length"
            );
            let mut out = Vec::new();
            out.extend_from_slice(&footer.trailer_offset.to_le_bytes());
            out.extend_from_slice(&footer.count.to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(FOOTER_MAGIC);
            assert_eq!(out, footer_bytes, "footer does not re-encode to the same bytes");
        }
    }
});
