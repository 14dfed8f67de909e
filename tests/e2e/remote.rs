//! What a push adds to the remote: nothing for an unchanged folder, little for a small change.

use crate::support::*;

#[test]
fn unchanged_push_adds_nothing_and_small_change_adds_little() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let a = sandbox.folder("a");
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> =
        (0..40).map(|i| (format!("blob{i}").into_bytes(), noise(256 << 10, i))).collect();
    entries.push((b"db.sqlite".to_vec(), noise(8 << 20, 99)));
    for (name, content) in &entries {
        std::fs::write(a.join(std::str::from_utf8(name).expect("utf-8")), content).expect("write");
    }
    let pods = sandbox.pods("home", &a);
    pods.ok(&["create", "p", "--url", remote.to_str().expect("utf-8")]);
    pods.ok(&["push", "p"]);
    let first = remote_packs(&remote, "p");
    let head = git(&["--git-dir", remote.to_str().expect("utf-8"), "rev-parse", "p"]);

    let again = pods.json(&["push", "p"]);
    assert_eq!(again["up_to_date"], true);
    assert_eq!(remote_packs(&remote, "p"), first, "an unchanged push changed the packs");
    assert_eq!(
        git(&["--git-dir", remote.to_str().expect("utf-8"), "rev-parse", "p"]),
        head,
        "an unchanged push made a commit"
    );

    // Rewrite 64 KiB in the middle of the 8 MiB file: a few chunks change.
    let mut db = noise(8 << 20, 99);
    db[4 << 20..(4 << 20) + (64 << 10)].copy_from_slice(&noise(64 << 10, 1234));
    std::fs::write(a.join("db.sqlite"), &db).expect("write");
    let pushed = pods.json(&["push", "p"]);
    assert_eq!(pushed["version"], 2);
    let second = remote_packs(&remote, "p");
    let added: u64 = second.iter().filter(|(k, _)| !first.contains_key(*k)).map(|(_, v)| v).sum();
    assert!(first.keys().all(|k| second.contains_key(k)), "old packs must stay");
    // The changed region touches at most 3 chunks of at most 256 KiB (noise does not compress).
    assert!(added > 0 && added <= 3 * (256 << 10) + 4096, "a 64 KiB change added {added} bytes of packs");
    git(&["--git-dir", remote.to_str().expect("utf-8"), "fsck", "--strict", "--no-progress"]);
}

#[test]
fn identical_data_in_two_pods_is_stored_once() {
    let sandbox = Sandbox::new();
    let (a, b) = (sandbox.folder("a"), sandbox.folder("b"));
    std::fs::write(a.join("data"), noise(4 << 20, 5)).expect("write");
    std::fs::write(b.join("data"), noise(4 << 20, 5)).expect("write");
    sandbox.pods("home", &a).ok(&["push", "one"]);
    let store = sandbox.path("home/store/packs");
    let size = |dir: &std::path::Path| -> u64 {
        std::fs::read_dir(dir).expect("packs").map(|e| e.expect("entry").metadata().expect("meta").len()).sum()
    };
    let before = size(&store);
    let pushed = sandbox.pods("home", &b).json(&["push", "two"]);
    assert!(size(&store) < before + 4096, "the second pod stored its data again");
    // The second pod's branch still holds every pack it needs.
    assert!(pushed["packs_sent"].as_u64().expect("number") >= 1);
    let c = sandbox.folder("c");
    let other = sandbox.pods("home-c", &c);
    other.ok(&["create", "two", "--url", sandbox.path("home/remote.git").to_str().expect("utf-8")]);
    other.ok(&["pull", "two"]);
    assert_same_folder(&b, &c);
}

/// On the embedded remote, a push mirrors each pack as soon as the snapshot completes it,
/// each as a git pack of its own; the branch is as sound as one written in one go.
#[test]
fn embedded_remote_mirrors_packs_while_the_snapshot_runs() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    for i in 0..16 {
        std::fs::write(a.join(format!("blob{i}")), noise(128 << 10, i)).expect("write");
    }
    // Small packs, so this push writes many.
    let home = sandbox.path("home");
    std::fs::create_dir_all(home.join("store")).expect("store dir");
    let config = r#"{"format":1,"chunker":{"min":16384,"avg":65536,"max":262144,"sqlite_chunk":4096},"zstd_level":1,"pack_target_size":262144}"#;
    std::fs::write(home.join("store/config"), config).expect("config");
    let pods = sandbox.pods("home", &a);
    let pushed = pods.json(&["push", "p"]);
    let packs = pushed["packs_sent"].as_u64().expect("packs_sent");
    assert!(packs >= 6, "the premise: many packs ({pushed})");
    let remote = home.join("remote.git");
    let git_packs = std::fs::read_dir(remote.join("objects/pack"))
        .expect("git packs")
        .filter(|e| e.as_ref().expect("entry").path().extension().is_some_and(|x| x == "pack"))
        .count() as u64;
    // One git pack per mirrored pack, plus the one of the commit and its trees.
    assert_eq!(git_packs, packs + 1, "packs were not mirrored one by one");
    git(&["--git-dir", remote.to_str().expect("utf-8"), "fsck", "--strict", "--no-progress"]);
    pods.ok(&["verify", "--remote"]);
    let b = sandbox.folder("b");
    let other = sandbox.pods("home-b", &b);
    other.ok(&["create", "p", "--url", remote.to_str().expect("utf-8")]);
    other.ok(&["pull", "p"]);
    assert_same_folder(&a, &b);
}
