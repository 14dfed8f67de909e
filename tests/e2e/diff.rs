//! `pods diff` against an independent oracle: the test walks both folders itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::*;

/// (status letter, path, old path) computed directly from two folders.
fn oracle(a: &Path, b: &Path) -> BTreeSet<(String, String, Option<String>)> {
    let (la, lb) = (listing(a), listing(b));
    let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    let has_children = |l: &BTreeMap<Vec<u8>, Listed>, dir: &[u8]| {
        l.keys().any(|k| k.len() > dir.len() && k.starts_with(dir) && k[dir.len()] == b'/')
    };
    let kind = |e: &Listed| match e {
        Listed::File { .. } => 0,
        Listed::Dir { .. } => 1,
        Listed::Symlink { .. } => 2,
    };
    let mut out = BTreeSet::new();
    let mut added = Vec::new();
    let mut deleted = Vec::new();
    for path in la.keys().chain(lb.keys()).collect::<BTreeSet<_>>() {
        match (la.get(path), lb.get(path)) {
            (Some(Listed::Dir { .. }), None) if has_children(&la, path) => {}
            (None, Some(Listed::Dir { .. })) if has_children(&lb, path) => {}
            (Some(x), None) => deleted.push((path.clone(), x.clone())),
            (None, Some(y)) => added.push((path.clone(), y.clone())),
            (Some(x), Some(y)) if kind(x) != kind(y) => {
                out.insert(("T".into(), text(path), None));
            }
            (Some(Listed::File { mode: m1, content: c1, .. }), Some(Listed::File { mode: m2, content: c2, .. })) => {
                if c1 != c2 || m1 != m2 {
                    out.insert(("M".into(), text(path), None));
                }
            }
            (Some(Listed::Dir { mode: m1, .. }), Some(Listed::Dir { mode: m2, .. })) if m1 != m2 => {
                out.insert(("M".into(), text(path), None));
            }
            (Some(Listed::Symlink { target: t1 }), Some(Listed::Symlink { target: t2 })) if t1 != t2 => {
                out.insert(("M".into(), text(path), None));
            }
            _ => {}
        }
    }
    // A rename: a deleted and an added non-empty file (or symlink) with the same content.
    let same = |x: &Listed, y: &Listed| match (x, y) {
        (Listed::File { content: c1, size, .. }, Listed::File { content: c2, .. }) => *size > 0 && c1 == c2,
        (Listed::Symlink { target: t1 }, Listed::Symlink { target: t2 }) => t1 == t2,
        _ => false,
    };
    let mut used = vec![false; deleted.len()];
    for (path, entry) in &added {
        match deleted.iter().enumerate().find(|(i, (_, d))| !used[*i] && same(d, entry)) {
            Some((i, (old, _))) => {
                used[i] = true;
                out.insert(("R".into(), text(path), Some(text(old))));
            }
            None => {
                out.insert(("A".into(), text(path), None));
            }
        }
    }
    for (i, (path, _)) in deleted.iter().enumerate() {
        if !used[i] {
            out.insert(("D".into(), text(path), None));
        }
    }
    out
}

fn reported(json: &serde_json::Value) -> BTreeSet<(String, String, Option<String>)> {
    json.as_array()
        .expect("a list")
        .iter()
        .map(|d| {
            (
                d["status"].as_str().expect("status").to_string(),
                d["path"].as_str().expect("path").to_string(),
                d["old_path"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn diff_matches_a_direct_comparison_of_the_folders() {
    let sandbox = Sandbox::new();
    let (v1, v2) = (sandbox.folder("v1"), sandbox.folder("v2"));
    let big = noise(2 << 20, 3);
    build(
        &v1,
        &[
            (b"same.txt", Spec::File(b"unchanged", 0o644)),
            (b"edit.txt", Spec::File(b"before", 0o644)),
            (b"gone.txt", Spec::File(b"deleted later", 0o644)),
            (b"old-name.bin", Spec::File(b"moved content", 0o644)),
            (b"chmod.sh", Spec::File(b"#!/bin/sh", 0o644)),
            (b"file-to-dir", Spec::File(b"f", 0o644)),
            (b"dir-to-link/x", Spec::File(b"x", 0o644)),
            (b"link", Spec::Symlink("same.txt")),
            (b"empty-old", Spec::Dir(0o755)),
            (b"locked", Spec::Dir(0o755)),
            (b"deep/a/b/c.txt", Spec::File(b"deep", 0o644)),
            (b"caf\xe9-latin1", Spec::File(b"non-utf8 name", 0o644)),
            (b"big.db", Spec::File(&big, 0o644)),
        ],
    );
    let mut big2 = big.clone();
    big2[1 << 20..(1 << 20) + 100].copy_from_slice(&[7u8; 100]);
    build(
        &v2,
        &[
            (b"same.txt", Spec::File(b"unchanged", 0o644)),
            (b"edit.txt", Spec::File(b"after!", 0o644)),
            (b"new-name.bin", Spec::File(b"moved content", 0o644)),
            (b"chmod.sh", Spec::File(b"#!/bin/sh", 0o755)),
            (b"file-to-dir/inside", Spec::File(b"i", 0o644)),
            (b"dir-to-link", Spec::Symlink("same.txt")),
            (b"link", Spec::Symlink("edit.txt")),
            (b"empty-new", Spec::Dir(0o755)),
            (b"locked", Spec::Dir(0o700)),
            (b"deep/a/b/c.txt", Spec::File(b"deeper", 0o644)),
            (b"caf\xe9-latin1", Spec::File(b"non-utf8 name", 0o644)),
            (b"big.db", Spec::File(&big2, 0o644)),
        ],
    );
    let pods1 = sandbox.pods("home", &v1);
    pods1.ok(&["push", "p"]);
    sandbox.pods("home", &v2).ok(&["push", "p", "--force"]);

    let expected = oracle(&v1, &v2);
    assert!(expected.iter().any(|(s, _, _)| s == "R") && expected.iter().any(|(s, _, _)| s == "T"));
    assert_eq!(reported(&pods1.json(&["diff", "p@1", "p@2"])), expected, "version against version");
    // The live folder (v1's folder) against version 2, and version 2 against itself.
    assert_eq!(reported(&pods1.json(&["diff", "p@2", "."])), oracle(&v2, &v1), "version against the folder");
    let same = pods1.run(&["diff", "p@2", "p", "--exit-code"]);
    assert!(same.status.success() && same.stdout.is_empty(), "identical versions must print nothing");
    assert_eq!(pods1.run(&["diff", "p@1", "p@2", "--exit-code"]).status.code(), Some(1));

    // --stat: the 2 MiB file changed by 100 bytes: only a chunk or two is new.
    let stat = pods1.json(&["diff", "p@1", "p@2", "--stat"]);
    let db = stat.as_array().expect("list").iter().find(|d| d["path"] == "big.db").expect("big.db listed");
    let new = db["new_bytes"].as_u64().expect("number");
    assert!(new > 0 && new <= 512 << 10, "a 100-byte edit reported {new} new bytes");
    assert_eq!(new + db["shared_bytes"].as_u64().expect("number"), 2 << 20);

    // Path filters.
    let out = pods1.ok(&["diff", "--json", "p@1", "p@2", "--", "deep", "edit.txt"]);
    let filtered = reported(&serde_json::from_str(&out).expect("JSON"));
    let want: BTreeSet<_> =
        expected.iter().filter(|(_, p, _)| p.starts_with("deep/") || p == "edit.txt").cloned().collect();
    assert_eq!(filtered, want);
    let text = pods1.ok(&["diff", "p@1", "p@2"]);
    assert!(text.contains("R\told-name.bin -> new-name.bin") && text.contains("(mode 644 -> 755)"), "{text}");
}
