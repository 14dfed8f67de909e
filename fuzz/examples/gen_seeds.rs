//! Writes small, valid seed inputs for every fuzz target into fuzz/corpus/<target>/, from
//! the engine's own encoders (or byte layouts the format spec fixes where the encoder is
//! private). Deterministic: running it again rewrites the same files.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds

use std::fs;
use std::path::{Path, PathBuf};

use pods_engine::chunker::ChunkerParams;
use pods_engine::codec::pack::{self, BlobKind, Compression, PackEntry};
use pods_engine::codec::tree::{Entry, Node, Tree};
use pods_engine::codec::version::{Stats, Version};
use pods_engine::filecache::{CachedFile, FileStamp, FilesCache};
use pods_engine::id::{BlobId, ChunkId, PackId, TreeId, VersionId};
use pods_engine::remote::{pack_path_in_tree, version_path_in_tree, PodMarker, REMOTE_FORMAT_VERSION};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    fs::create_dir_all(&dir).expect("create corpus dir");
    dir
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let path = corpus(target).join(format!("seed-{name}"));
    fs::write(&path, bytes).expect("write seed");
    println!("{:>8} bytes  {}", bytes.len(), path.display());
}

use pods_engine::ops::noise as seeded_bytes;

/// A pack holding `blobs` (kind, compression, stored bytes, raw length) back to back.
fn build_pack(blobs: &[(BlobKind, Compression, &[u8], u32)]) -> (Vec<u8>, Vec<PackEntry>) {
    let mut out = pack::encode_header().to_vec();
    let mut entries = Vec::new();
    for (i, (kind, compression, stored, raw_len)) in blobs.iter().enumerate() {
        let mut id = *blake3::hash(stored).as_bytes();
        id[31] ^= i as u8; // distinct ids even for equal bytes
        entries.push(PackEntry {
            id: BlobId(id),
            kind: *kind,
            compression: *compression,
            stored_len: stored.len() as u32,
            raw_len: *raw_len,
            offset: out.len() as u64,
        });
        out.extend_from_slice(stored);
    }
    let trailer_offset = out.len() as u64;
    out.extend_from_slice(&pack::encode_trailer(&entries, trailer_offset));
    pack::decode_pack_index(&out).expect("seed pack decodes");
    (out, entries)
}

/// A pack whose entries carry the real ids (blake3 of the raw bytes), so every blob unpacks.
fn build_real_pack(blobs: &[(BlobKind, Compression, Vec<u8>, Vec<u8>)]) -> (Vec<u8>, Vec<PackEntry>) {
    let mut out = pack::encode_header().to_vec();
    let mut entries = Vec::new();
    for (kind, compression, stored, raw) in blobs {
        entries.push(PackEntry {
            id: BlobId(*blake3::hash(raw).as_bytes()),
            kind: *kind,
            compression: *compression,
            stored_len: stored.len() as u32,
            raw_len: raw.len() as u32,
            offset: out.len() as u64,
        });
        out.extend_from_slice(stored);
    }
    let trailer_offset = out.len() as u64;
    out.extend_from_slice(&pack::encode_trailer(&entries, trailer_offset));
    pack::decode_pack_index(&out).expect("seed pack decodes");
    (out, entries)
}

fn sample_tree() -> Tree {
    let entry =
        |name: &[u8], mode, node| Entry { name: name.to_vec(), mode, mtime_ns: 1_700_000_000_123_456_789, node };
    Tree {
        entries: vec![
            entry(b"README.md", 0o644, Node::File { size: 5, chunks: vec![ChunkId::of(b"hello")] }),
            entry(b"big.bin", 0o600, Node::File { size: 300_000, chunks: vec![ChunkId::of(b"a"), ChunkId::of(b"b")] }),
            entry(b"empty", 0o644, Node::File { size: 0, chunks: vec![] }),
            entry(b"link", 0, Node::Symlink(serde_bytes::ByteBuf::from(b"../target".to_vec()))),
            entry(b"sub", 0o755, Node::Dir(TreeId::of(b"sub"))),
            entry(b"z\xff\xfe", 0o7777, Node::File { size: 1, chunks: vec![ChunkId::of(b"z")] }),
        ],
    }
}

fn main() {
    // Packs: one blob, several of both kinds and compressions, and an empty pack.
    // A zstd frame (single segment, content size 5) with one raw block: "hello".
    let zstd_hello = [0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x05, 0x29, 0x00, 0x00, b'h', b'e', b'l', b'l', b'o'];
    let tree_bytes = sample_tree().encode();
    let (one, _) = build_pack(&[(BlobKind::Chunk, Compression::None, b"hello", 5)]);
    let (several, entries) = build_pack(&[
        (BlobKind::Chunk, Compression::None, b"hello", 5),
        (BlobKind::Chunk, Compression::Zstd, &zstd_hello, 5),
        (BlobKind::Tree, Compression::None, &tree_bytes, tree_bytes.len() as u32),
        (BlobKind::Chunk, Compression::None, b"", 0),
    ]);
    let (empty, _) = build_pack(&[]);
    for target in ["pack_index", "pack_entry_footer"] {
        write(target, "pack-one", &one);
        write(target, "pack-several", &several);
        write(target, "pack-empty", &empty);
    }

    // Blob reading: `[compression][raw_len LE][stored]` inputs, and packs whose blobs really
    // hash to their ids (real zstd frames included).
    let blob_input = |compression: u8, raw_len: u32, stored: &[u8]| {
        let mut out = vec![compression];
        out.extend_from_slice(&raw_len.to_le_bytes());
        out.extend_from_slice(stored);
        out
    };
    let text = b"pods pods pods pods pods: snapshots of a data folder, shared through git. ".repeat(20);
    let text_zstd = zstd::bulk::compress(&text, 3).expect("zstd");
    let zeros = vec![0u8; 1 << 20];
    let zeros_zstd = zstd::bulk::compress(&zeros, 19).expect("zstd");
    write("blob_read", "plain", &blob_input(0, 5, b"hello"));
    write("blob_read", "zstd-raw-block", &blob_input(1, 5, &zstd_hello));
    write("blob_read", "zstd-text", &blob_input(1, text.len() as u32, &text_zstd));
    write("blob_read", "zstd-empty", &blob_input(1, 0, &zstd::bulk::compress(b"", 1).expect("zstd")));
    // A bomb: 1 MiB of zeros declared as 100 bytes must be refused without expanding.
    write("blob_read", "zstd-bomb", &blob_input(1, 100, &zeros_zstd));
    let real = |kind, compression, stored: &[u8], raw: &[u8]| (kind, compression, stored.to_vec(), raw.to_vec());
    let real_blobs = [
        real(BlobKind::Chunk, Compression::None, b"hello", b"hello"),
        real(BlobKind::Chunk, Compression::Zstd, &text_zstd, &text),
        real(BlobKind::Tree, Compression::None, &tree_bytes, &tree_bytes),
        real(BlobKind::Chunk, Compression::Zstd, &zstd_hello[..], b"hello world"), // wrong: raw block is "hello"
    ];
    let (valid_pack, _) = build_real_pack(&real_blobs[..3]);
    pods_engine::store::check_pack(&PackId::of(&valid_pack), &valid_pack).expect("seed pack checks");
    write("blob_read", "pack-valid", &valid_pack);
    write("pack_index", "pack-valid", &valid_pack);
    let (bad_pack, _) = build_real_pack(&real_blobs);
    assert!(pods_engine::store::check_pack(&PackId::of(&bad_pack), &bad_pack).is_err());
    write("blob_read", "pack-bad-blob", &bad_pack);

    // Trees.
    write("tree", "sample", &sample_tree().encode());
    write("tree", "empty", &Tree::default().encode());
    let spec = Tree {
        entries: vec![Entry {
            name: b"a".to_vec(),
            mode: 0o644,
            mtime_ns: 1_000_000_000,
            node: Node::File { size: 0, chunks: vec![] },
        }],
    };
    write("tree", "spec-vector", &spec.encode());
    for bytes in [sample_tree().encode(), Tree::default().encode(), spec.encode()] {
        Tree::decode(&bytes).expect("seed tree decodes");
    }

    // Versions.
    let first = Version {
        number: 1,
        parents: vec![],
        root: TreeId([0; 32]),
        time_ns: 0,
        author: "a".into(),
        message: "m".into(),
        stats: Stats { files: 1, dirs: 1, symlinks: 0, bytes: 5 },
    };
    let merge = Version {
        number: 42,
        parents: vec![VersionId::of(b"p1"), VersionId::of(b"p2")],
        root: TreeId::of(&tree_bytes),
        time_ns: -1_234_567_890,
        author: "Ada Lovelace <ada@example.org>".into(),
        message: "merge: reconcile ünïcode ✓\nsecond line".into(),
        stats: Stats { files: 1_000_000, dirs: 12, symlinks: 3, bytes: u64::MAX },
    };
    for (name, version) in [("first", &first), ("merge", &merge)] {
        let bytes = version.encode();
        Version::decode(&bytes).expect("seed version decodes");
        write("version", name, &bytes);
    }

    // Index file (format-spec/local.md; the store's encoder is private).
    let index_file = |packs: &[(PackId, &[PackEntry])]| {
        let mut out = b"PODSINDX".to_vec();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(packs.len() as u32).to_le_bytes());
        for (id, entries) in packs {
            out.extend_from_slice(&id.0);
            out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            for entry in *entries {
                pack::encode_entry(entry, &mut out);
            }
        }
        pods_engine::store::decode_index_file(&out).expect("seed index file decodes");
        out
    };
    write("index_file", "empty", &index_file(&[]));
    write("index_file", "two-packs", &index_file(&[(PackId::of(&several), &entries), (PackId::of(&empty), &[])]));

    // Files cache, through the engine's own save(). save() walks a HashMap, so a cache of
    // several files comes out in random order: each file is saved alone and the bodies are
    // joined under one count (postcard: version byte, varint count, then the entries).
    let stamp = |size, inode| FileStamp { size, mtime_ns: 1_700_000_000_000_000_000, ctime_ns: -5, inode, mode: 0o644 };
    let files = [
        (b"README.md".to_vec(), CachedFile { stamp: stamp(5, 10), chunks: vec![ChunkId::of(b"hello")] }),
        (
            b"dir/sub/big\xff.bin".to_vec(),
            CachedFile { stamp: stamp(300_000, 11), chunks: vec![ChunkId::of(b"a"), ChunkId::of(b"b")] },
        ),
    ];
    let scratch = corpus("files_cache").join(".scratch");
    let saved = |cache: &FilesCache| {
        cache.save(&scratch).expect("save files cache");
        let bytes = fs::read(&scratch).expect("read back");
        fs::remove_file(&scratch).expect("remove scratch");
        bytes
    };
    let mut joined = vec![1u8, files.len() as u8];
    for (i, (path, file)) in files.iter().enumerate() {
        let one = saved(&FilesCache { files: [(path.clone(), file.clone())].into_iter().collect() });
        assert_eq!(&one[..2], &[1, 1], "one-file cache: version 1, count 1");
        write("files_cache", &format!("one-file-{i}"), &one);
        joined.extend_from_slice(&one[2..]);
    }
    let decoded = FilesCache::decode(&joined);
    assert_eq!(decoded.files.len(), files.len(), "seed files cache decodes");
    for (path, file) in &files {
        assert_eq!(decoded.get(path, &file.stamp), Some(file.chunks.as_slice()));
    }
    write("files_cache", "two-files", &joined);
    write("files_cache", "empty", &saved(&FilesCache::default()));

    // Remote names and the POD marker.
    let pack_name = pack_path_in_tree(&PackId::of(&one));
    let pack_file = pack_name.rsplit('/').next().expect("file name");
    write("remote_names", "pack-name", pack_file.as_bytes());
    write("remote_names", "pack-name-upper", pack_file.to_ascii_uppercase().as_bytes());
    let version_file = version_path_in_tree(42);
    write("remote_names", "version-name", version_file.trim_start_matches("versions/").as_bytes());
    write("remote_names", "version-name-max", b"9999999999");
    let marker = PodMarker { format: REMOTE_FORMAT_VERSION, chunker: ChunkerParams::default() };
    write("remote_names", "marker", &serde_json::to_vec_pretty(&marker).expect("marker json"));
    let small = PodMarker {
        format: REMOTE_FORMAT_VERSION,
        chunker: ChunkerParams { min: 64, avg: 256, max: 1024, ..ChunkerParams::default() },
    };
    write("remote_names", "marker-small", &serde_json::to_vec(&small).expect("marker json"));

    // Chunker: random data (several small chunks), a run of zeros, 12 bytes of parameters
    // (64/256/1024) in front of data, and one input large enough for the default sizes.
    write("chunker", "random-4k", &seeded_bytes(4096, 0x5eed));
    write("chunker", "zeros-3k", &[0u8; 3000]);
    let mut with_params = Vec::new();
    for v in [64u32, 256, 1024] {
        with_params.extend_from_slice(&v.to_le_bytes());
    }
    with_params.extend_from_slice(&seeded_bytes(4000, 7));
    write("chunker", "params-small", &with_params);
    write("chunker", "random-160k", &seeded_bytes(160 << 10, 0xc0ffee));
}
