//! Writes a git pack (version 2) and its index (version 2) for objects stored without
//! compression. Packs are zstd already, so deflating them again buys nothing: each object
//! is a zlib stream of "stored" blocks, which costs a copy instead of a compression.
//!
//! Why not gix's pack writer or `git index-pack`: both deflate (or inflate) and hash every
//! object again with collision-detecting SHA-1, which measured 9 s of a 1 GiB push here.
//! This file is the whole format (git's Documentation/gitformat-pack.txt), and the tests
//! check its output with `git index-pack --verify` and `git fsck`.

use std::io::{Read, Write};

use sha1::{Digest, Sha1};

/// The largest stored deflate block.
const STORED_BLOCK: usize = 65_535;

/// Git object types as a pack encodes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Commit = 1,
    Tree = 2,
    Blob = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
        }
    }
}

struct IndexEntry {
    id: [u8; 20],
    crc32: u32,
    offset: u64,
}

/// Counts bytes and keeps the running SHA-1 of everything written, as the pack trailer needs.
struct Hashing<W: Write> {
    out: W,
    sha: Sha1,
    written: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, bytes: &[u8], crc: &mut crc32fast::Hasher) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.sha.update(bytes);
        crc.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }
}

pub struct GitPackWriter<W: Write> {
    out: Hashing<W>,
    entries: Vec<IndexEntry>,
    expected: u32,
}

impl<W: Write> GitPackWriter<W> {
    /// Starts a pack that will hold exactly `count` objects.
    pub fn new(out: W, count: u32) -> std::io::Result<Self> {
        let mut out = Hashing { out, sha: Sha1::new(), written: 0 };
        let mut header = Vec::with_capacity(12);
        header.extend_from_slice(b"PACK");
        header.extend_from_slice(&2u32.to_be_bytes());
        header.extend_from_slice(&count.to_be_bytes());
        out.put(&header, &mut crc32fast::Hasher::new())?;
        Ok(Self { out, entries: Vec::with_capacity(count as usize), expected: count })
    }

    /// Adds an object of `size` bytes read from `data`; returns its git object id.
    pub fn add(&mut self, kind: Kind, size: u64, data: &mut dyn Read) -> std::io::Result<[u8; 20]> {
        let offset = self.out.written;
        let mut crc = crc32fast::Hasher::new();
        // Type and size: 3 bits of type and 4 of size, then 7 bits of size per byte.
        let mut header = Vec::with_capacity(10);
        let mut byte = ((kind as u8) << 4) | (size & 0x0f) as u8;
        let mut rest = size >> 4;
        while rest > 0 {
            header.push(byte | 0x80);
            byte = (rest & 0x7f) as u8;
            rest >>= 7;
        }
        header.push(byte);
        header.extend_from_slice(&[0x78, 0x01]); // zlib header: deflate, no dictionary
        self.out.put(&header, &mut crc)?;

        let mut id = Sha1::new();
        id.update(format!("{} {size}\0", kind.name()).as_bytes());
        let mut adler = adler2::Adler32::new();
        let mut block = vec![0u8; STORED_BLOCK];
        let mut left = size;
        loop {
            let n = left.min(STORED_BLOCK as u64) as usize;
            data.read_exact(&mut block[..n])?;
            left -= n as u64;
            let last = left == 0;
            let len = n as u16;
            let mut block_header = [u8::from(last), 0, 0, 0, 0];
            block_header[1..3].copy_from_slice(&len.to_le_bytes());
            block_header[3..5].copy_from_slice(&(!len).to_le_bytes());
            self.out.put(&block_header, &mut crc)?;
            self.out.put(&block[..n], &mut crc)?;
            id.update(&block[..n]);
            adler.write_slice(&block[..n]);
            if last {
                break;
            }
        }
        self.out.put(&adler.checksum().to_be_bytes(), &mut crc)?;
        let id: [u8; 20] = id.finalize().into();
        self.entries.push(IndexEntry { id, crc32: crc.finalize(), offset });
        Ok(id)
    }

    /// Writes the trailer; returns the pack's checksum (its name) and the index file bytes.
    pub fn finish(mut self) -> std::io::Result<([u8; 20], Vec<u8>)> {
        if self.entries.len() != self.expected as usize {
            return Err(std::io::Error::other(format!(
                "git pack announced {} objects but holds {}",
                self.expected,
                self.entries.len()
            )));
        }
        let checksum: [u8; 20] = self.out.sha.clone().finalize().into();
        self.out.out.write_all(&checksum)?;
        self.out.out.flush()?;
        Ok((checksum, index_v2(&mut self.entries, &checksum)))
    }
}

/// The `.idx` (version 2) for a pack's objects.
fn index_v2(entries: &mut [IndexEntry], pack_checksum: &[u8; 20]) -> Vec<u8> {
    entries.sort_by_key(|e| e.id);
    let mut out = Vec::with_capacity(8 + 1024 + entries.len() * 36 + 40);
    out.extend_from_slice(&[0xff, b't', b'O', b'c']);
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for entry in entries.iter() {
        fanout[entry.id[0] as usize] += 1;
    }
    let mut total = 0;
    for count in fanout {
        total += count;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for entry in entries.iter() {
        out.extend_from_slice(&entry.id);
    }
    for entry in entries.iter() {
        out.extend_from_slice(&entry.crc32.to_be_bytes());
    }
    let mut large = Vec::new();
    for entry in entries.iter() {
        if entry.offset < 0x8000_0000 {
            out.extend_from_slice(&(entry.offset as u32).to_be_bytes());
        } else {
            out.extend_from_slice(&(0x8000_0000 | large.len() as u32).to_be_bytes());
            large.push(entry.offset);
        }
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum);
    let idx_checksum: [u8; 20] = Sha1::digest(&out).into();
    out.extend_from_slice(&idx_checksum);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Git accepts what we write: `git index-pack` recomputes every id and the index.
    #[test]
    fn git_reads_our_pack() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs: Vec<Vec<u8>> = vec![b"".to_vec(), b"hello\n".to_vec(), vec![7u8; 200_000]];
        let mut pack = Vec::new();
        let mut writer = GitPackWriter::new(&mut pack, blobs.len() as u32).expect("header");
        let ids: Vec<[u8; 20]> =
            blobs.iter().map(|b| writer.add(Kind::Blob, b.len() as u64, &mut b.as_slice()).expect("add")).collect();
        let (checksum, idx) = writer.finish().expect("finish");
        // The id of "hello\n" as git computes it.
        assert_eq!(hex::encode(ids[1]), "ce013625030ba8dba906f756967f9e9ca394464a");
        let pack_path = dir.path().join("test.pack");
        std::fs::write(&pack_path, &pack).expect("write pack");
        let out = std::process::Command::new("git")
            .args(["index-pack", "-o"])
            .arg(dir.path().join("git.idx"))
            .arg(&pack_path)
            .output()
            .expect("git index-pack");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hex::encode(checksum));
        assert_eq!(std::fs::read(dir.path().join("git.idx")).expect("git's idx"), idx, "our .idx differs from git's");
    }
}
