//! Typed content ids. Every id is the blake3-256 hash of the plaintext it names, so a
//! value read back from anywhere can be checked against its id.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Length in bytes of every id.
pub const ID_LEN: usize = 32;

macro_rules! content_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; ID_LEN]);

        /// 32 raw bytes in binary formats (postcard), 64 hex digits in JSON.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&self.to_hex())
                } else {
                    self.0.serialize(serializer)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    Self::from_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
                } else {
                    <[u8; ID_LEN]>::deserialize(deserializer).map(Self)
                }
            }
        }

        impl $name {
            /// The id of `bytes`: their blake3-256 hash.
            pub fn of(bytes: &[u8]) -> Self {
                Self(*blake3::hash(bytes).as_bytes())
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses 64 lowercase or uppercase hex digits.
            pub fn from_hex(text: &str) -> Option<Self> {
                let mut bytes = [0u8; ID_LEN];
                hex::decode_to_slice(text, &mut bytes).ok()?;
                Some(Self(bytes))
            }

            /// The first 8 hex digits, for messages.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }
    };
}

content_id!(
    /// A chunk of file content.
    ChunkId
);
content_id!(
    /// An encoded directory listing ([`crate::codec::tree::Tree`]).
    TreeId
);
content_id!(
    /// A whole pack file: the hash of every byte of it.
    PackId
);
content_id!(
    /// An encoded version record ([`crate::codec::version::Version`]).
    VersionId
);

/// The id of any blob stored in a pack, whatever its kind.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BlobId(pub [u8; ID_LEN]);

impl From<ChunkId> for BlobId {
    fn from(id: ChunkId) -> Self {
        BlobId(id.0)
    }
}

impl From<TreeId> for BlobId {
    fn from(id: TreeId) -> Self {
        BlobId(id.0)
    }
}
