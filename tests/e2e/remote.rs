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
