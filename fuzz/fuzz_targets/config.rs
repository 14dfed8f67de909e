//! The JSON files pods reads back: the store's `config`, `pods.json`, `remotes.json`,
//! `settings.json` and a folder's `state.json`, plus pod names. Never panics; whatever
//! parses survives a JSON round trip; chunker sizes that `validate()` accepts really work
//! with FastCDC (its own bounds are only debug assertions), and an accepted pod name is
//! safe as a file and branch name.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use pods_engine::home::{check_pod_name, FolderState, PodConfig, Settings};
use pods_engine::store::StoreConfig;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Parses `data` as a `T`; if it parses, checks the round trip and returns it.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(data).ok()?;
    let json = serde_json::to_vec(&value).expect("a parsed value serializes");
    let again: T = serde_json::from_slice(&json).expect("our own JSON is refused");
    assert_eq!(again, value, "changed across JSON");
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    if let Some(config) = round_trip::<StoreConfig>(data) {
        if config.chunker.validate().is_ok() {
            let len = (3 * config.chunker.max as usize).min(1 << 20);
            let input: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let total: usize = config.chunker.chunks(&input).map(|(_, len)| len).sum();
            assert_eq!(total, input.len(), "chunks do not cover the input");
        }
    }
    round_trip::<BTreeMap<String, PodConfig>>(data);
    round_trip::<BTreeMap<String, String>>(data);
    round_trip::<Settings>(data);
    round_trip::<FolderState>(data);

    let name = String::from_utf8_lossy(data);
    if check_pod_name(&name).is_ok() {
        assert!(!name.contains('/') && !name.contains("..") && !name.starts_with(['.', '-']), "unsafe name {name:?}");
    }
});
