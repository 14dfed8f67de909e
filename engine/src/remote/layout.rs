//! Names inside a pod branch's tree (format-spec/remote.md).

use serde::{Deserialize, Serialize};

use crate::chunker::ChunkerParams;
use crate::id::PackId;

/// The file at the root of every pod branch; a branch without it is not a pod.
pub const POD_MARKER: &str = "POD";

/// Content of the marker: the remote format and how the pod's data was chunked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMarker {
    pub format: u32,
    pub chunker: ChunkerParams,
}

pub const REMOTE_FORMAT: u32 = 1;

/// `packs/ab/ab12…ef.pack`: a two-hex-digit fan-out keeps each git tree small, so a push
/// rewrites a few small trees instead of one listing of every pack.
pub fn pack_path_in_tree(pack: &PackId) -> String {
    let hex = pack.to_hex();
    format!("packs/{}/{hex}.pack", &hex[..2])
}

/// `versions/0000000042`: zero-padded so that name order is number order.
pub fn version_path_in_tree(number: u64) -> String {
    format!("versions/{number:010}")
}

/// Parses a pack file name (`<64 hex>.pack`).
pub fn parse_pack_name(name: &str) -> Option<PackId> {
    PackId::from_hex(name.strip_suffix(".pack")?)
}

/// Parses a version file name: exactly the ten digits [`version_path_in_tree`] writes.
pub fn parse_version_name(name: &str) -> Option<u64> {
    let number = name.parse::<u64>().ok().filter(|n| *n > 0)?;
    (name.len() == 10 && name.bytes().all(|b| b.is_ascii_digit()) && format!("{number:010}") == name).then_some(number)
}
