//! Names and the marker read from a remote's tree: `parse_pack_name`,
//! `parse_version_name` on the input as (lossy) UTF-8, and the POD marker's JSON. Never
//! panics; whatever parses maps back to the same name / JSON value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pods_engine::remote::{pack_path_in_tree, parse_pack_name, parse_version_name, version_path_in_tree, PodMarker};

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data);

    if let Some(id) = parse_pack_name(&name) {
        let hex = id.to_hex();
        assert_eq!(format!("{hex}.pack"), name.to_ascii_lowercase(), "pack name does not map back");
        assert_eq!(pack_path_in_tree(&id), format!("packs/{}/{hex}.pack", &hex[..2]));
    }

    if let Some(n) = parse_version_name(&name) {
        assert!(n > 0, "version name {name:?} parsed to 0");
        assert_eq!(version_path_in_tree(n), format!("versions/{name}"), "version name does not map back");
    }

    if let Ok(marker) = serde_json::from_slice::<PodMarker>(data) {
        let json = serde_json::to_vec(&marker).expect("a marker serializes");
        let again: PodMarker = serde_json::from_slice(&json).expect("a marker's own JSON is refused");
        assert_eq!(again, marker, "marker changed across JSON");
    }
});
