//! `Version::decode`. Never panics; an accepted record re-encodes to bytes that decode to
//! the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pods_engine::codec::version::Version;

fuzz_target!(|data: &[u8]| {
    let Ok(version) = Version::decode(data) else { return };
    assert!(version.number > 0, "accepted version number 0");
    let encoded = version.encode();
    let again = Version::decode(&encoded).expect("a decoded version's own encoding is refused");
    assert_eq!(again, version, "version changed across encode/decode");
    assert_eq!(again.encode(), encoded, "encoding is not stable");
});
