//! `ChunkerParams::chunks`: with the default parameters, a small valid set (64/256/1024),
//! and any set the input's first 12 bytes give that `validate()` accepts, chunks cover the
//! input exactly and in order, and every chunk but the last is within [min, max] (the last
//! is non-empty and at most max). Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pods_engine::chunker::ChunkerParams;

/// The smallest sizes FastCDC allows. Fields other than the sizes keep their defaults.
fn small() -> ChunkerParams {
    ChunkerParams { min: 64, avg: 256, max: 1024, ..ChunkerParams::default() }
}

fn check(params: ChunkerParams, data: &[u8]) {
    let chunks: Vec<(usize, usize)> = params.chunks(data).collect();
    let mut next = 0;
    for (i, &(offset, len)) in chunks.iter().enumerate() {
        assert_eq!(offset, next, "{params:?}: chunk {i} starts at {offset}, expected {next}");
        assert!(len > 0, "{params:?}: chunk {i} is empty");
        assert!(len <= params.max as usize, "{params:?}: chunk {i} of {len} bytes exceeds max");
        if i + 1 < chunks.len() {
            assert!(len >= params.min as usize, "{params:?}: chunk {i} of {len} bytes is under min");
        }
        next = offset.checked_add(len).expect("chunk end overflows");
    }
    assert_eq!(next, data.len(), "{params:?}: chunks cover {next} of {} bytes", data.len());
}

fuzz_target!(|data: &[u8]| {
    let default = ChunkerParams::default();
    default.validate().expect("the default parameters are valid");
    let small = small();
    small.validate().expect("64/256/1024 is valid");
    check(default, data);
    check(small, data);

    if data.len() >= 12 {
        let u32_at = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
        let params = ChunkerParams { min: u32_at(0), avg: u32_at(4), max: u32_at(8), ..default };
        if params.validate().is_ok() {
            check(params, &data[12..]);
        }
    }
});
