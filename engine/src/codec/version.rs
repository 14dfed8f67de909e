//! Version records: what one push recorded. Layout: format-spec/objects.md.

use serde::{Deserialize, Serialize};

use super::{postcard_exact, versioned, DecodeError};
use crate::id::{TreeId, VersionId};

pub const FORMAT_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1 for a pod's first version, then one more than the highest parent.
    pub number: u64,
    pub parents: Vec<VersionId>,
    pub root: TreeId,
    /// When it was recorded, nanoseconds since the Unix epoch.
    pub time_ns: i64,
    pub author: String,
    pub message: String,
    pub stats: Stats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Stats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Sum of the sizes of all files.
    pub bytes: u64,
}

impl Version {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT_VERSION];
        postcard::to_io(self, &mut out).expect("writing to a Vec cannot fail");
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Version, DecodeError> {
        let body = versioned("version record", bytes, FORMAT_VERSION)?;
        let version: Version = postcard_exact("version record", body)?;
        if version.number == 0 {
            return Err(DecodeError::new("version record", "version number 0"));
        }
        if version.encode() != bytes {
            return Err(DecodeError::new("version record", "not in canonical encoding (over-long numbers)"));
        }
        Ok(version)
    }

    pub fn id(encoded: &[u8]) -> VersionId {
        VersionId::of(encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_vector() {
        let version = Version {
            number: 1,
            parents: vec![],
            root: TreeId([0; 32]),
            time_ns: 0,
            author: "a".into(),
            message: "m".into(),
            stats: Stats { files: 1, dirs: 1, symlinks: 0, bytes: 5 },
        };
        let bytes = version.encode();
        assert_eq!(Version::decode(&bytes).expect("valid"), version);
        // The hex vector of format-spec/objects.md.
        let expected = format!("010100{}000161016d01010005", "00".repeat(32));
        assert_eq!(hex::encode(&bytes), expected);
    }
}
