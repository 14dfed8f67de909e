//! Trees: one record per directory, entries sorted by name bytes. Layout:
//! format-spec/objects.md.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::{postcard_exact, versioned, DecodeError};
use crate::id::{ChunkId, TreeId};

pub const FORMAT_VERSION: u8 = 1;

/// A directory listing. Decoded trees always satisfy [`Tree::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Tree {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// One path component, raw bytes (need not be UTF-8).
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
    /// Permission bits (`mode & 0o7777`); 0 for symlinks.
    pub mode: u32,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    pub node: Node,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    File { size: u64, chunks: Vec<ChunkId> },
    Dir(TreeId),
    Symlink(ByteBuf),
}

impl Node {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Node::File { .. } => "file",
            Node::Dir(_) => "directory",
            Node::Symlink(_) => "symlink",
        }
    }
}

impl Entry {
    /// Same kind, content and permission bits. Modification times alone do not make two
    /// entries different: copying a folder changes them without changing anything a user made.
    pub fn same_content(&self, other: &Entry) -> bool {
        self.mode == other.mode && self.node == other.node
    }
}

impl Tree {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT_VERSION];
        postcard::to_io(self, &mut out).expect("writing to a Vec cannot fail");
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Tree, DecodeError> {
        let body = versioned("tree", bytes, FORMAT_VERSION)?;
        let tree: Tree = postcard_exact("tree", body)?;
        tree.check()?;
        // One tree, one encoding, one id: postcard also accepts over-long varints.
        if tree.encode() != bytes {
            return Err(DecodeError::new("tree", "not in canonical encoding (over-long numbers)"));
        }
        Ok(tree)
    }

    pub fn id(encoded: &[u8]) -> TreeId {
        TreeId::of(encoded)
    }

    /// The rules a tree from anywhere must meet before any name in it touches a disk:
    /// names are single, safe path components in strictly increasing byte order.
    pub fn check(&self) -> Result<(), DecodeError> {
        let bad = |why: String| Err(DecodeError::new("tree", why));
        let mut previous: Option<&[u8]> = None;
        for entry in &self.entries {
            let name = entry.name.as_slice();
            if let Err(why) = check_name(name) {
                return bad(why);
            }
            if previous.is_some_and(|p| p >= name) {
                return bad(format!("entries not sorted or duplicated at {:?}", String::from_utf8_lossy(name)));
            }
            previous = Some(name);
            if entry.mode > 0o7777 {
                return bad(format!("mode {:o} has bits beyond permissions", entry.mode));
            }
            if let Node::Symlink(target) = &entry.node {
                if target.is_empty() || target.contains(&0) {
                    return bad("symlink target empty or with a NUL byte".into());
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &[u8]) -> Option<&Entry> {
        self.entries.binary_search_by(|e| e.name.as_slice().cmp(name)).ok().map(|i| &self.entries[i])
    }
}

/// A name is one path component: not empty, not `.` or `..`, no `/` and no NUL.
pub fn check_name(name: &[u8]) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty entry name".into());
    }
    if name == b"." || name == b".." {
        return Err(format!("entry named {:?}", String::from_utf8_lossy(name)));
    }
    if name.contains(&b'/') || name.contains(&0) {
        return Err(format!("entry name {:?} contains '/' or NUL", String::from_utf8_lossy(name)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &[u8], node: Node) -> Entry {
        Entry { name: name.to_vec(), mode: 0o644, mtime_ns: 1_700_000_000_000_000_000, node }
    }

    #[test]
    fn round_trip() {
        let tree = Tree {
            entries: vec![
                entry(b"a", Node::File { size: 5, chunks: vec![ChunkId::of(b"hello")] }),
                entry(b"b\xff", Node::Symlink(ByteBuf::from(b"../x".to_vec()))),
                entry(b"c", Node::Dir(TreeId::of(b""))),
            ],
        };
        let bytes = tree.encode();
        assert_eq!(Tree::decode(&bytes).expect("valid"), tree);
    }

    /// The hex vector of format-spec/objects.md: a tree with one empty file "a".
    #[test]
    fn spec_vector() {
        let tree = Tree {
            entries: vec![Entry {
                name: b"a".to_vec(),
                mode: 0o644,
                mtime_ns: 1_000_000_000,
                node: Node::File { size: 0, chunks: vec![] },
            }],
        };
        assert_eq!(hex::encode(tree.encode()), "01010161a40380a8d6b907000000");
    }

    /// The spec vector with its mode written as an over-long varint (a4 83 00 for 420)
    /// decodes to the same tree, so it must be refused: a tree has one id.
    #[test]
    fn rejects_non_canonical_encoding() {
        let bytes = hex::decode("01010161a4830080a8d6b907000000").expect("hex");
        assert!(Tree::decode(&bytes).is_err());
        assert!(Tree::decode(&hex::decode("01010161a40380a8d6b907000000").expect("hex")).is_ok());
    }

    #[test]
    fn rejects_unsafe_names() {
        for name in [&b""[..], b".", b"..", b"a/b", b"/etc", b"a\0"] {
            let tree = Tree { entries: vec![entry(name, Node::Dir(TreeId::of(b"")))] };
            assert!(Tree::decode(&tree.encode()).is_err(), "accepted {name:?}");
        }
        let dup =
            Tree { entries: vec![entry(b"x", Node::Dir(TreeId::of(b""))), entry(b"x", Node::Dir(TreeId::of(b"")))] };
        assert!(Tree::decode(&dup.encode()).is_err());
    }
}
