//! Corrupted stores are found and named by `pods verify`; a hostile remote is refused
//! with the data folder untouched and nothing written outside it.

use std::path::{Path, PathBuf};

use pods_engine::codec::pack::{self, BlobKind, Compression, PackEntry};
use pods_engine::codec::tree::{Entry, Node, Tree};
use pods_engine::codec::version::{Stats, Version};
use pods_engine::id::{BlobId, ChunkId, PackId, TreeId};
use pods_engine::progress::NoProgress;
use pods_engine::remote::{GitRemote, PodMarker, PushRequest};
use pods_engine::store::Store;

use crate::support::*;

/// A home (`home`, data folder `a`) with two versions, so two packs, and the store's
/// pack paths. The noise is small so that the kept fixtures stay small.
fn pushed_store(sandbox: &Sandbox) -> (Pods, Vec<PathBuf>) {
    let a = sandbox.folder("a");
    build(&a, &[(b"keep/one.txt", Spec::File(b"one", 0o644)), (b"big.bin", Spec::File(&noise(40_000, 1), 0o644))]);
    let pods = sandbox.pods("home", &a);
    pods.ok(&["push", "p"]);
    build(&a, &[(b"keep/two.txt", Spec::File(b"two", 0o644))]);
    pods.ok(&["push", "p"]);
    let packs = store_packs(&sandbox.path("home"));
    assert!(packs.len() >= 2);
    pods.ok(&["verify"]);
    (pods, packs)
}

fn store_packs(home: &Path) -> Vec<PathBuf> {
    let mut packs: Vec<PathBuf> =
        std::fs::read_dir(home.join("store/packs")).expect("packs").map(|e| e.expect("entry").path()).collect();
    packs.sort();
    packs
}

fn verify_fails(pods: &Pods) -> serde_json::Value {
    let out = pods.run(&["verify", "--json"]);
    assert!(!out.status.success(), "verify should fail");
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn biggest(packs: &[PathBuf]) -> PathBuf {
    packs.iter().max_by_key(|p| std::fs::metadata(p).expect("meta").len()).expect("a pack").clone()
}

/// The ways a store breaks that `pods verify` must find and name.
#[derive(Debug, Clone, Copy)]
enum Corruption {
    FlippedByte,
    TruncatedPack,
    MissingPack,
    MissingIndex,
    MissingTree,
}

impl Corruption {
    const ALL: [Corruption; 5] = [
        Corruption::FlippedByte,
        Corruption::TruncatedPack,
        Corruption::MissingPack,
        Corruption::MissingIndex,
        Corruption::MissingTree,
    ];

    fn name(self) -> &'static str {
        match self {
            Corruption::FlippedByte => "flipped-byte",
            Corruption::TruncatedPack => "truncated-pack",
            Corruption::MissingPack => "missing-pack",
            Corruption::MissingIndex => "missing-index",
            Corruption::MissingTree => "missing-tree",
        }
    }

    /// Breaks the store of `home`, a home made by `pushed_store`.
    fn apply(self, home: &Path) {
        let packs = store_packs(home);
        match self {
            Corruption::FlippedByte => {
                let victim = biggest(&packs);
                let mut bytes = std::fs::read(&victim).expect("read");
                bytes[100] ^= 0xff;
                std::fs::write(&victim, &bytes).expect("write");
            }
            Corruption::TruncatedPack => {
                let victim = biggest(&packs);
                let bytes = std::fs::read(&victim).expect("read");
                std::fs::write(&victim, &bytes[..bytes.len() / 2]).expect("write");
            }
            Corruption::MissingPack => std::fs::remove_file(biggest(&packs)).expect("remove"),
            Corruption::MissingIndex => std::fs::remove_file(home.join("store/index")).expect("remove"),
            Corruption::MissingTree => {
                // Every pack rewritten without its directory listings.
                let mut dropped = false;
                for path in &packs {
                    let bytes = std::fs::read(path).expect("read");
                    let entries = pack::decode_pack_index(&bytes).expect("valid");
                    if !entries.iter().any(|e| e.kind == BlobKind::Tree) {
                        continue;
                    }
                    let kept: Vec<PackEntry> = entries.into_iter().filter(|e| e.kind != BlobKind::Tree).collect();
                    let rebuilt = rebuild_pack(&bytes, &kept);
                    std::fs::remove_file(path).expect("remove");
                    std::fs::write(path.with_file_name(format!("{}.pack", PackId::of(&rebuilt).to_hex())), &rebuilt)
                        .expect("write");
                    dropped = true;
                }
                assert!(dropped);
                std::fs::remove_file(home.join("store/index")).expect("remove");
            }
        }
    }

    /// Asserts that `pods verify` fails on the broken store and names what is broken and
    /// what it breaks.
    fn check(self, pods: &Pods) {
        let text = verify_fails(pods).to_string();
        let case = self.name();
        match self {
            Corruption::FlippedByte => {
                // The pack whose bytes no longer hash to its name is named, and so is the
                // file it breaks.
                let victim = store_packs(&pods.home)
                    .into_iter()
                    .find(|p| {
                        let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
                        PackId::of(&std::fs::read(p).expect("read")).to_hex() != stem
                    })
                    .expect("a pack that does not match its name");
                let name = victim.file_stem().expect("stem").to_string_lossy()[..8].to_string();
                assert!(text.contains(&format!("pack {name}")) && text.contains("p@2: big.bin"), "{case}: {text}");
            }
            Corruption::TruncatedPack => assert!(text.contains("does not hash to its name"), "{case}: {text}"),
            Corruption::MissingPack => assert!(
                text.contains("is in no pack") && text.contains("not in store/packs") && text.contains("big.bin"),
                "{case}: {text}"
            ),
            Corruption::MissingIndex => {
                // Found, named, rebuilt: the next verify is clean.
                assert!(text.contains("index file store/index was missing"), "{case}: {text}");
                pods.ok(&["verify"]);
            }
            Corruption::MissingTree => {
                assert!(text.contains("(whole directory)") && text.contains("p@1"), "{case}: {text}")
            }
        }
    }
}

#[test]
fn verify_names_each_kind_of_corruption() {
    for corruption in Corruption::ALL {
        let sandbox = Sandbox::new();
        let (pods, _) = pushed_store(&sandbox);
        corruption.apply(&pods.home);
        corruption.check(&pods);
    }
}

/// tests/fixtures/corrupt/<case>.tar: a broken POD_HOME (without its remote), made by an
/// earlier build. It keeps stores written by older code being checked by the current one.
/// `PODS_UPDATE_FIXTURES=1` makes them again (after a format change).
fn corrupt_fixture(corruption: Corruption) -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/corrupt/{}.tar", corruption.name()));
    if std::env::var_os("PODS_UPDATE_FIXTURES").is_some() {
        let sandbox = Sandbox::new();
        let (pods, _) = pushed_store(&sandbox);
        corruption.apply(&pods.home);
        // Only the store and what names its versions: the remote and git's samples are
        // not needed to verify, and would triple the fixture's size.
        std::fs::remove_dir_all(pods.home.join("remote.git")).expect("remove remote");
        for repo in std::fs::read_dir(pods.home.join("git")).expect("git") {
            let _ = std::fs::remove_dir_all(repo.expect("entry").path().join("hooks"));
        }
        std::fs::create_dir_all(path.parent().expect("parent")).expect("fixtures dir");
        let status = std::process::Command::new("tar")
            .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf"])
            .arg(&path)
            .arg("-C")
            .arg(sandbox.dir.path())
            .arg("home")
            .status()
            .expect("tar");
        assert!(status.success(), "tar failed");
    }
    path
}

#[test]
fn verify_names_each_kind_of_corruption_in_kept_fixtures() {
    for corruption in Corruption::ALL {
        let fixture = corrupt_fixture(corruption);
        let sandbox = Sandbox::new();
        let status = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&fixture)
            .arg("-C")
            .arg(sandbox.dir.path())
            .status()
            .expect("tar");
        assert!(status.success(), "cannot unpack {}", fixture.display());
        let pods = sandbox.pods("home", &sandbox.folder("a"));
        corruption.check(&pods);
    }
}

/// A pack holding `entries` (taken from `old`'s bytes).
fn rebuild_pack(old: &[u8], entries: &[PackEntry]) -> Vec<u8> {
    let mut out = pack::encode_header().to_vec();
    let mut moved = Vec::new();
    for e in entries {
        let start = e.offset as usize;
        let offset = out.len() as u64;
        out.extend_from_slice(&old[start..start + e.stored_len as usize]);
        moved.push(PackEntry { offset, ..*e });
    }
    let trailer_offset = out.len() as u64;
    out.extend_from_slice(&pack::encode_trailer(&moved, trailer_offset));
    out
}

/// Publishes a crafted version (root `root`, packs from `store`) as pod `p` on `remote`.
fn publish(sandbox: &Sandbox, store: &Store, root: TreeId, remote: &Path) {
    store.flush().expect("flush");
    let url = remote.to_str().expect("utf-8");
    let git = GitRemote::open(&sandbox.path("attacker-git"), url).expect("staging");
    let version = Version {
        number: 1,
        parents: vec![],
        root,
        time_ns: 0,
        author: "mallory".into(),
        message: "hostile".into(),
        stats: Stats::default(),
    };
    let packs = store.pack_ids().expect("packs");
    let request = PushRequest {
        branch: "p",
        parent: None,
        new_packs: &packs,
        versions: &[version],
        drop_versions: &[],
        drop_packs: &[],
        rewrite: false,
        marker: &PodMarker { format: 1, chunker: store.config.chunker },
        author: ("mallory", "m@example.com"),
    };
    git.push(&request, store, &NoProgress).expect("publish");
}

fn file_entry(name: &[u8], content: &[u8], store: &Store) -> Entry {
    let id = ChunkId::of(content);
    store.put(BlobKind::Chunk, id.into(), content).expect("put");
    Entry {
        name: name.to_vec(),
        mode: 0o644,
        mtime_ns: 0,
        node: Node::File { size: content.len() as u64, chunks: vec![id] },
    }
}

fn raw_tree(store: &Store, entries: Vec<Entry>) -> TreeId {
    // Encoded without checks: a hostile writer need not follow the rules.
    let bytes = Tree { entries }.encode();
    let id = TreeId::of(&bytes);
    store.put(BlobKind::Tree, id.into(), &bytes).expect("put");
    id
}

/// Pulls from `remote` into a folder holding one file; asserts the pull fails with
/// `expected` in its message, the folder is as it was and `outside` was not created.
fn refused(sandbox: &Sandbox, remote: &Path, expected: &str) {
    let folder = sandbox.folder("victim");
    std::fs::write(folder.join("mine"), b"precious").expect("write");
    let before = listing(&folder);
    let pods = sandbox.pods("victim-home", &folder);
    pods.ok(&["create", "p", "--url", remote.to_str().expect("utf-8")]);
    let err = pods.fails(&["pull", "p"]);
    assert!(err.contains(expected), "expected '{expected}' in: {err}");
    assert_eq!(listing(&folder), before, "a refused pull changed the folder");
    assert!(!sandbox.path("outside").exists(), "something was written outside the folder");
}

#[test]
fn hostile_tree_names_are_refused() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"..", "entry named \"..\""),
        (b".", "entry named \".\""),
        (b"../outside", "contains '/'"),
        (b"/tmp/outside", "contains '/'"),
        (b"", "empty entry name"),
        (b"a\0b", "contains '/' or NUL"),
    ];
    for (name, expected) in cases {
        let sandbox = Sandbox::new();
        let remote = sandbox.bare_remote("remote.git");
        let store = Store::open(&sandbox.path("attacker-store")).expect("store");
        let entry = file_entry(name, b"pwned", &store);
        let root = raw_tree(&store, vec![entry]);
        publish(&sandbox, &store, root, &remote);
        refused(&sandbox, &remote, expected);
    }
    // Duplicate and unsorted names.
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let store = Store::open(&sandbox.path("attacker-store")).expect("store");
    let (x1, x2) = (file_entry(b"x", b"1", &store), file_entry(b"x", b"2", &store));
    let root = raw_tree(&store, vec![x1, x2]);
    publish(&sandbox, &store, root, &remote);
    refused(&sandbox, &remote, "not sorted or duplicated");
}

#[test]
fn hostile_content_is_refused() {
    // A chunk whose content does not hash to its id.
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let store = Store::open(&sandbox.path("attacker-store")).expect("store");
    let claimed = ChunkId::of(b"innocent");
    store.put(BlobKind::Chunk, claimed.into(), b"malicious").expect("put");
    let entry =
        Entry { name: b"f".to_vec(), mode: 0o644, mtime_ns: 0, node: Node::File { size: 8, chunks: vec![claimed] } };
    publish(&sandbox, &store, raw_tree(&store, vec![entry]), &remote);
    refused(&sandbox, &remote, "does not match its hash");

    // A zstd bomb: a frame that expands far beyond the size its entry declares.
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let store = Store::open(&sandbox.path("attacker-store")).expect("store");
    let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 19).expect("compress");
    let id = BlobId(*blake3::hash(b"tiny").as_bytes());
    let mut bytes = pack::encode_header().to_vec();
    let entry = PackEntry {
        id,
        kind: BlobKind::Chunk,
        compression: Compression::Zstd,
        stored_len: bomb.len() as u32,
        raw_len: 4,
        offset: 16,
    };
    bytes.extend_from_slice(&bomb);
    let trailer_offset = bytes.len() as u64;
    bytes.extend_from_slice(&pack::encode_trailer(&[entry], trailer_offset));
    std::fs::write(store.pack_path(&PackId::of(&bytes)), &bytes).expect("write pack");
    let store = Store::open(&sandbox.path("attacker-store")).expect("reopen");
    let f = Entry {
        name: b"f".to_vec(),
        mode: 0o644,
        mtime_ns: 0,
        node: Node::File { size: 4, chunks: vec![ChunkId(id.0)] },
    };
    publish(&sandbox, &store, raw_tree(&store, vec![f]), &remote);
    refused(&sandbox, &remote, "corrupt or tampered");

    // A truncated pack (its name is the hash of what is left, so only its index is wrong).
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let store = Store::open(&sandbox.path("attacker-store")).expect("store");
    let f = file_entry(b"f", &noise(100_000, 9), &store);
    let root = raw_tree(&store, vec![f]);
    store.flush().expect("flush");
    let pack = store.pack_ids().expect("packs")[0];
    let bytes = std::fs::read(store.pack_path(&pack)).expect("read");
    std::fs::remove_file(store.pack_path(&pack)).expect("rm");
    let cut = &bytes[..bytes.len() - 10];
    std::fs::write(store.pack_path(&PackId::of(cut)), cut).expect("write");
    let store = Store::open(&sandbox.path("attacker-store")).expect("reopen");
    publish(&sandbox, &store, root, &remote);
    refused(&sandbox, &remote, "corrupt or tampered");
}

/// Adds `path` holding `content` to branch `p` of `remote` with plain git, as a hostile
/// remote could.
fn add_to_branch(sandbox: &Sandbox, remote: &Path, path: &str, content: &[u8]) {
    use std::io::Write;
    let dir = remote.to_str().expect("utf-8");
    let mut child = std::process::Command::new("git")
        .args(["--git-dir", dir, "hash-object", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git");
    child.stdin.take().expect("stdin").write_all(content).expect("write");
    let out = child.wait_with_output().expect("git");
    let blob = String::from_utf8(out.stdout).expect("utf-8").trim().to_string();
    let index = sandbox.path("hostile-index");
    let with_index = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["--git-dir", dir])
            .args(args)
            .env("GIT_INDEX_FILE", &index)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
    };
    with_index(&["read-tree", "refs/heads/p"]);
    with_index(&["update-index", "--add", "--cacheinfo", &format!("100644,{blob},{path}")]);
    let tree = with_index(&["write-tree"]);
    let commit = with_index(&["commit-tree", &tree, "-p", "refs/heads/p", "-m", "hostile"]);
    with_index(&["update-ref", "refs/heads/p", &commit]);
}

/// A bare remote whose pod `p` holds one harmless file.
fn harmless_pod(sandbox: &Sandbox) -> PathBuf {
    let remote = sandbox.bare_remote("remote.git");
    let store = Store::open(&sandbox.path("attacker-store")).expect("store");
    let f = file_entry(b"f", b"fine", &store);
    publish(sandbox, &store, raw_tree(&store, vec![f]), &remote);
    remote
}

#[test]
fn oversized_blobs_are_refused_before_they_are_read() {
    // A "pack" just over the largest pods writes: zeros, so git stores it in a few KiB
    // and only its declared size can give it away before it fills memory.
    let sandbox = Sandbox::new();
    let remote = harmless_pod(&sandbox);
    let name = format!("ab{}", "0".repeat(62));
    let big = vec![0u8; (pack::MAX_PACK_LEN + 1) as usize];
    add_to_branch(&sandbox, &remote, &format!("packs/ab/{name}.pack"), &big);
    refused(&sandbox, &remote, &format!("is {} bytes, more than the {}", big.len(), pack::MAX_PACK_LEN));

    // Any other file on the branch is held to the size of a record.
    let sandbox = Sandbox::new();
    let remote = harmless_pod(&sandbox);
    add_to_branch(&sandbox, &remote, "junk", &vec![0u8; 17 << 20]);
    refused(&sandbox, &remote, "file junk on");

    // Folders nested deeper than a pod's layout.
    let sandbox = Sandbox::new();
    let remote = harmless_pod(&sandbox);
    add_to_branch(&sandbox, &remote, &format!("{}x", "d/".repeat(40)), b"deep");
    refused(&sandbox, &remote, "nested");
}

#[test]
fn symlinks_never_lead_writes_outside() {
    let sandbox = Sandbox::new();
    let outside = sandbox.path("outside");
    // A pod whose folder holds a symlink pointing outside, and a directory of files.
    let a = sandbox.folder("a");
    build(&a, &[(b"escape", Spec::Symlink(outside.to_str().expect("utf-8"))), (b"data/file", Spec::File(b"x", 0o644))]);
    let pods = sandbox.pods("home", &a);
    pods.ok(&["push", "p"]);
    let b = sandbox.folder("b");
    sandbox.pods("home", &b).ok(&["pull", "p"]);
    assert_eq!(std::fs::read_link(b.join("escape")).expect("a link"), outside, "restored verbatim as a link");
    assert!(!outside.exists(), "the link was followed");

    // The victim's own symlink where the pod has a directory: replaced, never written through.
    let c = sandbox.folder("c");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::os::unix::fs::symlink(&outside, c.join("data")).expect("symlink");
    let victim = sandbox.pods("home", &c);
    victim.ok(&["pull", "p", "--strategy", "overwrite"]);
    assert!(
        c.join("data").is_dir() && !std::fs::symlink_metadata(c.join("data")).expect("meta").file_type().is_symlink()
    );
    assert_eq!(std::fs::read_dir(&outside).expect("list").count(), 0, "a file was written through the symlink");
}

#[test]
fn gc_frees_dropped_versions_and_survives_a_crash() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    let pods = sandbox.pods("home", &a);
    std::fs::write(a.join("keep"), b"always here").expect("write");
    std::fs::write(a.join("big1"), noise(3 << 20, 1)).expect("write");
    pods.ok(&["push", "p"]);
    std::fs::remove_file(a.join("big1")).expect("rm");
    std::fs::write(a.join("big2"), noise(3 << 20, 2)).expect("write");
    pods.ok(&["push", "p"]);
    std::fs::remove_file(a.join("big2")).expect("rm");
    std::fs::write(a.join("small"), b"small").expect("write");
    pods.ok(&["push", "p"]);
    let store_size = || -> u64 {
        std::fs::read_dir(sandbox.path("home/store/packs"))
            .expect("packs")
            .map(|e| e.expect("e").metadata().expect("m").len())
            .sum()
    };
    let before = store_size();
    // Dropping the latest version is refused; an older one goes.
    assert!(pods.fails(&["versions", "p", "--drop", "3"]).contains("latest"));
    pods.ok(&["versions", "p", "--drop", "1"]);
    assert_eq!(pods.json(&["versions", "p"]).as_array().map(Vec::len), Some(2));
    // A crash before or while deleting packs leaves a store that verifies; gc then completes.
    for point in ["gc-index-saved", "gc-pack-deleted"] {
        let out = pods.clone().with_env("PODS_TEST_CRASH_AT", point).run(&["gc", "--keep", "1"]);
        assert!(out.status.signal_is_kill(), "gc did not reach {point}: {}", String::from_utf8_lossy(&out.stderr));
        pods.ok(&["verify"]);
    }
    let report = pods.json(&["gc"]);
    assert!(before - store_size() >= 6 << 20, "gc freed too little: {report}");
    pods.ok(&["verify"]);
    let b = sandbox.folder("b");
    sandbox.pods("home-b", &b).ok(&["create", "p", "--url", sandbox.path("home/remote.git").to_str().expect("utf-8")]);
    sandbox.pods("home-b", &b).ok(&["pull", "p"]);
    assert_same_folder(&a, &b);
}

trait KillStatus {
    fn signal_is_kill(&self) -> bool;
}

impl KillStatus for std::process::ExitStatus {
    fn signal_is_kill(&self) -> bool {
        std::os::unix::process::ExitStatusExt::signal(self) == Some(9)
    }
}
